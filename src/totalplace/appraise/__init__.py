"""The appraise stage: did a past programme work, and what would prevention pay back, to whom.

Green Book discounting (``discount``), interventions from place.yaml (``settings``), the
cost-benefit model with Monte Carlo (``model``), the evaluation of a past programme from
the place's own data (``evaluate``), and the stage that publishes it all.
"""

from __future__ import annotations

from totalplace.appraise.section import section
from totalplace.appraise.stage import Appraise

__all__ = ["Appraise", "section"]
