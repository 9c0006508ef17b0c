"""What the tests expect of the pictures that minicnn's figures are saved as."""


def saved_sizes(width_inches, height_inches, dpi=100):
    """The (width, height) in pixels that matplotlib may save a figure of this size in inches as.
    A size whose product with the dpi is not exact in binary (8.2 x 100 = 819.99...) comes out one
    pixel short in older releases of matplotlib, which cut the product to an integer (819), and
    whole in newer ones, which round it (820): either is the figure's size."""
    def pixels(inches):
        return {int(inches * dpi), round(inches * dpi)}
    return {(w, h) for w in pixels(width_inches) for h in pixels(height_inches)}
