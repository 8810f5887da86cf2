"""SQLite's answers to the advisor's questions: free pages and VACUUM; statistics only where a plan can change.

Registered through ``dbkeeper_register_advisor_rules``; every rule not
overridden here is the generic one of :class:`dbkeeper.monitoring.rules.AdvisorRules`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from dbkeeper.monitoring.advice import Recommendation, Thresholds
from dbkeeper.monitoring.rules import AdvisorRules

if TYPE_CHECKING:
    from dbkeeper.contract.session import Session


class SQLiteAdvisorRules(AdvisorRules):
    """Bloat is the file's free-page list; statistics matter only for indexed tables."""

    dialect_name: ClassVar[str] = "sqlite"

    def statistics_matter(self, entry: dict[str, Any]) -> bool:
        """Without an index SQLite has no plan choice the statistics could change."""
        return bool(entry.get("indexes"))

    def bloat(self, connection: Session, native: dict[str, Any], thresholds: Thresholds,
              unavailable: dict[str, str]) -> list[Recommendation]:
        """Free pages of the whole file (``PRAGMA freelist_count``), which VACUUM drops."""
        pages = int(native.get("page_count") or 0)
        free = int(native.get("freelist_count") or 0)
        if not pages or free < thresholds.freelist_pages or free / pages < thresholds.freelist_ratio:
            return []
        size = int(native.get("page_size") or 0)
        return [Recommendation(
            kind="bloat", table="",
            message=f"{free} of {pages} pages ({free / pages:.0%}, {free * size / 1_048_576:.1f} MiB) are free; "
                    "VACUUM rebuilds the file without them (it locks the database while it runs)",
            fix="VACUUM", confidence="high",
            evidence={"page_count": pages, "freelist_count": free, "page_size": size})]
