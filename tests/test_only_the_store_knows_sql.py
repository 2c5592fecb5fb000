"""Only `margin_core/store/` writes SQL (docs/architecture.md): import-linter cannot tell `from sqlalchemy
import text` from `from sqlalchemy import Engine` (both import the package `sqlalchemy`), so this test reads
the imports of every product module outside the store."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SQL_BUILDERS = {"text", "select", "insert", "update", "delete", "literal_column", "table", "column"}
SQL_MODULES = ("sqlalchemy", "sqlmodel")


def sql_imports(path: Path) -> list[str]:
    """`module.name` for each SQL-building name the file imports (or `sqlalchemy.sql` itself)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in SQL_MODULES:
            found += [f"{node.module}.{a.name}" for a in node.names if a.name in SQL_BUILDERS or a.name == "sql"]
            if (node.module or "").startswith(("sqlalchemy.sql", "sqlalchemy.future")):
                found.append(str(node.module))
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("sqlalchemy.sql")]
    return found


def product_files() -> list[Path]:
    files = [*ROOT.glob("margin_core/**/*.py"), *ROOT.glob("connectors/**/*.py"), *ROOT.glob("pages/**/*.py")]
    return sorted(f for f in files if f.relative_to(ROOT).parts[:2] != ("margin_core", "store"))


def test_no_module_outside_the_store_builds_sql() -> None:
    offenders = {str(f.relative_to(ROOT)): names for f in product_files() if (names := sql_imports(f))}
    assert offenders == {}


def test_the_check_sees_an_import_of_text(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text("from sqlalchemy import Engine, text\nimport sqlalchemy.sql.expression\n", encoding="utf-8")
    assert sql_imports(sample) == ["sqlalchemy.text", "sqlalchemy.sql.expression"]
