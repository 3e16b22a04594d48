"""``dualrec flows``: the listing, one flow as Mermaid or text, and the docs/flows pages."""

from __future__ import annotations

from pathlib import Path

import pytest

from dualrec.cli import main
from dualrec.flowdocs import DOCS_DIR, flow_page
from workflow import load_flows, to_mermaid

FLOWS = load_flows()
README = Path(__file__).resolve().parents[2] / "README.md"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_flows_lists_every_flow_with_its_title(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "flows")
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == sorted(FLOWS)
    assert "wealth_purchase                 Wealth-management product purchase" in lines
    _, out, _ = run(capsys, "flows", "--language", "zh-CN")
    assert "借记卡开卡" in out


def test_flows_show_prints_mermaid_and_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "flows", "show", "wealth_purchase", "--format", "mermaid")
    assert code == 0 and out == to_mermaid(FLOWS["wealth_purchase"])
    assert "product_selection --> refused: product_refused [product_unsuitable]" in out
    _, out, _ = run(capsys, "flows", "show", "loan_review")
    assert "terms_disclosure: Loan terms disclosure" in out
    assert "announcement: spoken by text-to-speech" in out
    code, _, err = run(capsys, "flows", "show", "mortgage")
    assert code == 2 and 'unknown flow "mortgage"' in err


def test_the_flow_pages_are_up_to_date_and_linked_from_the_readme() -> None:
    """docs/flows/<name>.md match the flow files (regenerate: dualrec flows docs)."""
    readme = README.read_text("utf-8")
    for name, flow in FLOWS.items():
        page = DOCS_DIR / f"{name}.md"
        assert page.read_text("utf-8") == flow_page(flow), f"{page} is stale"
        assert f"(docs/flows/{name}.md)" in readme
    assert sorted(p.stem for p in DOCS_DIR.glob("*.md")) == sorted(FLOWS)
