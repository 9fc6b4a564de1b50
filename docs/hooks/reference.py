"""MkDocs hook: the API reference's entries of the activations, made from
fastrelu's table (``definitions.BUILTIN``, through the public names it
makes), so that an activation added there is documented without an edit
here.  ``reference/functions.md`` holds MARKER where they go."""

MARKER = "<!-- activations: one entry each, made from fastrelu.definitions.BUILTIN -->"


def activation_entries():
    """The mkdocstrings entries (``::: fastrelu.NAME``) of every public
    activation, each followed by its backward and its gradient from the
    output where it has them, in ``fastrelu.activations()``'s order."""
    import fastrelu

    names = [n for a in fastrelu.activations()
             for n in (a, a + "_backward", a + "_backward_from_output") if hasattr(fastrelu, n)]
    return "\n\n".join(f"::: fastrelu.{n}" for n in names)


def expand(markdown):
    return markdown.replace(MARKER, activation_entries())


def on_page_markdown(markdown, page, config, files):
    return expand(markdown)
