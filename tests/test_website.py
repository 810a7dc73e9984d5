"""The documentation site builds without a warning, documents every public name, and every
internal link and anchor in it resolves.

The build here renders the gallery without executing it (``test_examples`` runs every example
as a notebook already); ``make docs`` executes them in fast mode.
"""

import inspect
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

import physlearn
import physlearn.systems

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("sphinx")
pytest.importorskip("myst_nb")


class _Page(HTMLParser):
    """The ids a page defines and the links it holds."""

    def __init__(self):
        super().__init__()
        self.ids, self.links = set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])


def _parse(path):
    page = _Page()
    page.feed(path.read_text(errors="replace"))
    return page


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "PHYSLEARN_DOCS_EXECUTE": "off"}
    build = subprocess.run(
        [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-E", "-q",
         "-j", "2", str(ROOT / "docs"), str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, f"the docs build failed or warned:\n{build.stderr[-5000:]}"
    return out


def test_builds_without_warnings(site):
    assert (site / "index.html").exists()


@pytest.mark.parametrize("package", [physlearn, physlearn.systems], ids=lambda p: p.__name__)
def test_every_public_name_is_in_the_api_reference(site, package):
    missing = []
    for name in package.__all__:
        qualified = f"{package.__name__}.{name}"
        page = site / "api" / "generated" / f"{qualified}.html"
        anchor = f"module-{qualified}" if inspect.ismodule(getattr(package, name)) else qualified
        if not page.exists() or anchor not in _parse(page).ids:
            missing.append(qualified)
    assert not missing, f"not documented in the API reference: {missing}"
    listing = (site / "api" / f"{package.__name__}.html").read_text()
    assert all(f"{package.__name__}.{name}.html" in listing for name in package.__all__)


def test_every_internal_link_and_anchor_resolves(site):
    pages = {path: _parse(path) for path in site.rglob("*.html")}
    broken = []
    for path, page in pages.items():
        for href in page.links:
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or href.startswith("mailto:"):
                continue
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{path.relative_to(site)}: {href} (no such file)")
            elif parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else _parse(target).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{path.relative_to(site)}: {href} (no such anchor)")
    assert not broken, f"{len(broken)} broken internal links:\n" + "\n".join(broken[:40])


def test_the_docs_stand_alone():
    """No page sends a reader outside the repository."""
    texts = [p for p in (ROOT / "docs").rglob("*.md") if "_build" not in p.parts]
    offending = [str(p.relative_to(ROOT)) for p in texts + [ROOT / "README.md"]
                 if "../shared" in p.read_text()]
    assert not offending, f"pages pointing outside the repository: {offending}"
