import re
from pathlib import Path

from sage_rapids.config import Config, flat_config

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
REFERENCE = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")


def test_readme_starts_with_the_two_commands():
    first_block = README.split("```")[1]
    assert "make run" in first_block and "make test" in first_block


def test_every_config_key_is_in_the_reference_with_its_default():
    for key, value in flat_config(Config()).items():
        row = next((line for line in REFERENCE.splitlines()
                    if line.startswith(f"| `{key}` |")), None)
        assert row is not None, f"{key} missing from docs/configuration.md"
        shown = row.split("|")[2].strip().strip("`")
        if isinstance(value, bool) or value is None:
            assert shown == {None: "null", True: "true", False: "false"}[value], key
        elif isinstance(value, float):
            assert float(shown) == value, key
        else:
            assert shown == str(value), key


def test_results_document_is_generated_from_the_measurements():
    import subprocess
    import sys

    root = Path(__file__).parent.parent
    check = subprocess.run([sys.executable, str(root / "bench" / "results_doc.py"), "--check"],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "| vector space, cached teacher logits |" in (root / "docs" / "results.md").read_text()


def test_readme_stays_short_and_links_resolve():
    assert len(README.splitlines()) < 300
    for target in re.findall(r"\]\(((?:docs|bench)/[^)#]+)\)", README):
        assert (ROOT / target).exists(), target
