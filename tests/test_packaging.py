"""setup.py's declared versions against what is checked: its lower bounds are the versions that
.ci/run-oldest installs (.ci/oldest.txt), under the Python that its python_requires names, and
the versions the README says that run checks."""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_keywords():
    """The literal keyword arguments of setup.py's setup(...) call, read without running it."""
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    call = next(node for node in ast.walk(tree)
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setup")
    return {k.arg: ast.literal_eval(k.value) for k in call.keywords
            if isinstance(k.value, (ast.Constant, ast.List, ast.Dict))}


def release(version):
    """'6.80' -> (6, 80): a release number without its trailing zeros, so that 6.80 == 6.80.0."""
    numbers = [int(part) for part in version.split(".")]
    while numbers and numbers[-1] == 0:
        numbers.pop()
    return tuple(numbers)


def lower_bounds(requirements):
    """{name: release} of requirements written 'name>=version', names lower-cased (an environment
    marker after it, '; platform_system != ...', is allowed)."""
    bounds = {}
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9][0-9.]*)(?:; [a-z_]+ [!=]= '[A-Za-z]+')?", requirement)
        assert match, f"setup.py: {requirement!r} is not of the form name>=version"
        bounds[match[1].lower()] = release(match[2])
    return bounds


def oldest_pins():
    """{name: release} of .ci/oldest.txt's 'name==version' lines, names lower-cased."""
    pins = {}
    for line in (ROOT / ".ci" / "oldest.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = release(version)
    return pins


def test_every_lower_bound_is_the_version_the_oldest_run_installs():
    keywords = setup_keywords()
    declared = lower_bounds(keywords["install_requires"] + keywords["extras_require"]["dev"])
    assert declared == oldest_pins()


def test_the_oldest_run_uses_the_oldest_python_that_setup_py_allows():
    oldest_python = setup_keywords()["python_requires"].removeprefix(">=")
    script = (ROOT / ".ci" / "run-oldest").read_text(encoding="utf-8")
    assert f"python=${{1:-python{oldest_python}}}" in script
    assert f'[ "$version" != {oldest_python} ]' in script


def test_the_readme_names_the_oldest_versions_that_are_pinned():
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split()).lower()
    for name, version in oldest_pins().items():
        written = ".".join(map(str, version + (0,) * (3 - len(version))))
        assert f"{name} {written}" in readme, f"the README does not give {name} {written}"
    assert "python 3.9," in readme
