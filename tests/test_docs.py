from pathlib import Path

from sage_rapids.config import Config, flat_config

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def test_readme_starts_with_the_two_commands():
    first_block = README.split("```")[1]
    assert "make run" in first_block and "make test" in first_block


def test_every_config_key_is_in_the_reference_with_its_default():
    for key, value in flat_config(Config()).items():
        row = next((line for line in README.splitlines() if line.startswith(f"| `{key}` |")),
                   None)
        assert row is not None, f"{key} missing from the README config reference"
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
