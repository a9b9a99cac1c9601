"""Prose that cannot go stale: a digit in a page's markdown is glued from a computed value or is one of a few forms
that name something rather than report a number (issue 14, item 6).

Every chapter (``notebooks/*.py``) and every book page that is a notebook (``book/*.py``) is read in its Jupytext
percent form. Each allowed form below is blanked out of a markdown cell before the digit search, so what is left
with a digit in it is a number typed into the text: glue it (``{glue:text}`name```), or drop it.
"""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(ROOT.glob("notebooks/*.py")) + sorted(ROOT.glob("book/*.py"))
CHAPTER_NUMBERS = {int(p.name[:2]) for p in ROOT.glob("notebooks/[0-9][0-9]_*.py")}

# The allow-list: each form is a number that names something (a section, a paper, a model) or is computed, never a
# result or a set-up value typed by hand.
ALLOWED = {
    # {glue:text}`t1_detail`, {glue}`x`, {glue:md}`y`: the value is glued from a code cell.
    "glue role": r"\{glue(?::\w+)?\}`[^`]*`",
    # ```{glue:figure} name / :::{glue:math} name: a glued figure or value as a directive.
    "glue directive": r"(?m)^(?:```+|:::+)\{glue(?::\w+)?\}.*$",
    # {cite}`he2019rethinking`, {ref}`label`, {numref}`fig-2`, {doc}`../notebooks/01_...`: keys and paths, not numbers.
    "myst role": r"\{(?:cite(?::\w+)?|ref|numref|doc|eq|term|download)\}`[^`]*`",
    # (label)= : a MyST target.
    "myst label": r"(?m)^\([\w.:-]+\)=[ \t]*$",
    # `profile="real"`, `layer1..4`: identifiers and values as the code spells them.
    "code span": r"`[^`\n]+`",
    # $\theta(\alpha) = (1 - \alpha)\theta_a$: formulas (inline ones may wrap a line, not a paragraph).
    "math": r"\$\$.+?\$\$|\$(?:[^$\n]|\n(?!\n))+\$",
    # [text](https://...): a link's address.
    "link target": r"\]\([^)\s]+\)",
    # "# 6. Hyper-parameters": the chapter's number in its title.
    "chapter heading": r"(?m)^# \d+\. ",
    # "chapter 1's grid", "chapters 1, 2 and 5": the book's own chapters (checked to exist below).
    "book chapter": r"\b[Cc]hapters?\s+\d+(?:(?:,\s+|\s+and\s+|\s+or\s+|,\s+\.\.\.\s+)\d+)*",
    # §5.2.4, §5.7-5.8, §7.1 item 6, §7.1 (5), "section 5": the survey's sections.
    "survey section": r"§ ?\d+(?:\.\d+)*(?:[–-]\d+(?:\.\d+)*)?(?: item \d+| \(\d+\))?|\b[Ss]ections? \d+(?:\.\d+)*",
    # arXiv:2007.05123: a paper's arXiv id (before years: it starts like one).
    "arxiv id": r"\b(?:arXiv:)?\d{4}\.\d{4,5}(?:v\d+)?\b",
    # 2019, "Kornblith et al. (2021b)": a year, alone or in a citation; not a count ("2000 images", "1999 steps").
    "year": r"\b(?:19|20)\d\d[a-z]?\b(?!\s*(?:images?|steps?|classes|samples?|seeds?|points?|epochs?|per\b|%|[.,]\d))",
    # T1, H5, R8, A2-A4: the survey's claims as the registry names them.
    "claim id": r"\b(?:T[1-9]|H[1-5]|M[1-3]|R[1-8]|S[1-6]|P[1-4]|A[1-4]|B1)\b",
    # "the survey's table 2", "figure 3": the survey's own tables and figures.
    "survey table or figure": r"\b(?:[Tt]ables?|[Ff]igures?|[Ff]ig\.) \d+\b",
    # Names that contain digits: published models and data sets, the regularisers' names, a hash's name.
    "name with digits": r"\b(?:ResNet-\d+|ImageNet-\d+k|CIFAR-\d+|Caltech-\d+|Food-101|Flowers-102|JFT-300M|BiT-[SML]"
                        r"|L2-SP|L2|sha256)(?!\w)",
}
ALLOWED_RE = {name: re.compile(pattern) for name, pattern in ALLOWED.items()}
CHAPTER_REF = re.compile(ALLOWED["book chapter"])


def markdown_cells(source: str) -> list[tuple[int, str]]:
    """``(first line number, text)`` of each markdown cell of a Jupytext percent file, comment prefixes removed."""
    cells, current, first = [], None, 0
    for number, line in enumerate(source.splitlines(), 1):
        if line.startswith("# %%"):
            if current is not None:
                cells.append((first, "\n".join(current)))
            markdown = re.match(r"# %% \[(?:markdown|md)\]", line) is not None
            current, first = ([] if markdown else None), number + 1
        elif current is not None:
            current.append(line[2:] if line.startswith("# ") else line.lstrip("#"))
    if current is not None:
        cells.append((first, "\n".join(current)))
    return cells


def blank(text: str, skip: frozenset = frozenset()) -> str:
    """``text`` with every allowed form (but those in ``skip``) replaced by spaces; line breaks are kept, so a
    position still maps to its line."""
    for name, pattern in ALLOWED_RE.items():
        if name not in skip:
            text = pattern.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)
    return text


def offences(text: str, first_line: int = 1, skip: frozenset = frozenset()) -> list[tuple[int, str, str]]:
    """``(line number, offending word, the line)`` for each word of ``text`` still holding a digit once the allowed
    forms are blanked out."""
    return [(first_line + offset, word.group(), original.strip())
            for offset, (original, masked) in enumerate(zip(text.split("\n"), blank(text, skip).split("\n")))
            for word in re.finditer(r"\S*\d\S*", masked)]


def unknown_chapters(text: str) -> list[str]:
    """Chapter numbers the text refers to that no chapter file has."""
    return [ref for match in CHAPTER_REF.finditer(text) for ref in re.findall(r"\d+", match.group())
            if int(ref) not in CHAPTER_NUMBERS]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_number_in_the_prose_is_glued(page):
    lines = [f"{page.relative_to(ROOT)}:{line}: {word!r} in: {text}"
             for first, cell in markdown_cells(page.read_text()) for line, word, text in offences(cell, first)]
    assert not lines, ("numbers typed into the prose; glue them from a code cell or drop them:\n"
                       + "\n".join(lines))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_chapter_references_name_existing_chapters(page):
    missing = [ref for _, cell in markdown_cells(page.read_text()) for ref in unknown_chapters(cell)]
    assert not missing, f"{page.name} refers to chapters {missing}; there are {sorted(CHAPTER_NUMBERS)}"


# --- the checker itself -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, word", [
    ("The grid trains for 100 steps.", "100"),
    ("test accuracies above 90 % on both targets", "90"),
    ("a factor of 10 either way", "10"),
    ("about 3x faster", "3x"),
    ("ResNet-50 on 20 images per class", "20"),  # an allowed name does not shield its neighbour
    ("{glue:text}`t1_key` of 0.5", "0.5"),
    ("claim T10", "T10"),  # not a claim of the registry
    ("a 95% interval", "95%"),
    ("2000 images", "2000"),  # a count that looks like a year
    ("trained for 2019 steps", "2019"),
    ("costs $5 and then $\n\n10 more", "10"),  # a stray dollar does not open math across a paragraph
])
def test_a_typed_number_is_caught(text, word):
    assert [w for _, w, _ in offences(text)] == [word]


# One example per allowed form; each must pass, and must fail once its form (and the code span, which also covers a
# role's backticks) is taken off the list, so no form is dead weight.
FORM_EXAMPLES = {
    "glue role": "reached {glue:text}`t1_key:.2f` and {glue}`similarity_2` and {glue:md}`t1_sentence`",
    "glue directive": "```{glue:figure} fig_2\n```",
    "myst role": "as {cite}`he2019rethinking` found ({numref}`fig-3`, {ref}`sec-4`, {doc}`01_does_transfer_help`)",
    "myst label": "(sec-5)=\n## A section",
    "code span": "`profile=\"real\"` uses `hp_steps`, stages `layer1..4`",
    "math": "$\\theta(\\alpha) = (1 - \\alpha) \\theta_a$ and $$\\sum_i^2 x$$ and $w_c\n= 1$",
    "link target": "[the rule](https://github.com/google-research/big_transfer/blob/master/bit_hyperrule.py#L42)",
    "chapter heading": "# 6. Hyper-parameters",
    "book chapter": "chapter 1's grid, chapters 1, 2 and 5, chapter\n4's protocol",
    "survey section": "§5.2.4, §5.7-5.8, §7.1 item 6, §7.1 (5), the survey's section 5",
    "year": "Kornblith et al. 2019 and (2021b)",
    "claim id": "T1, T9, H5, M3, R8, S6, P4, A2-A4 and B1",
    "survey table or figure": "the survey's table 2 and figure 1",
    "name with digits": "ResNet-50 on ImageNet-21k, CIFAR-10, Caltech-101, Food-101, Flowers-102; L2-SP and L2",
    "arxiv id": "arXiv:2007.05123",
}


@pytest.mark.parametrize("form", FORM_EXAMPLES)
def test_each_allowed_form_passes_and_is_needed(form):
    text = FORM_EXAMPLES[form]
    assert offences(text) == []
    assert offences(text, skip=frozenset({form, "code span"})) != [], f"{form} is not what lets this text pass"


def test_every_allowed_form_has_an_example():
    assert set(FORM_EXAMPLES) == set(ALLOWED)


def test_markdown_cells_skip_code_and_keep_file_line_numbers():
    source = ("# ---\n# header 1\n# ---\n\n# %% [markdown]\n# # 6. Title\n#\n# runs 75 steps\n\n"
              "# %%\nx = 75  # code is not prose\n\n# %% [markdown]\n# fine\n# also 3 seeds\n")
    cells = markdown_cells(source)
    assert [first for first, _ in cells] == [6, 14]
    assert [(line, word) for first, cell in cells for line, word, _ in offences(cell, first)] == [(8, "75"), (15, "3")]


def test_chapter_references_are_checked_against_the_chapter_files():
    assert unknown_chapters("chapter 1's grid; chapters 2 and 5") == []
    assert unknown_chapters("chapter 11's grid") == ["11"]
