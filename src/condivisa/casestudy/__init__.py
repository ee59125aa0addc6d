"""Case studies: read a case file, simulate the base case, batteries and optimal dispatch, and work out
the economics (``condivisa case run``)."""

from condivisa.casestudy.casefile import Case, CaseError, case_from_dict, load_case
from condivisa.casestudy.runner import CaseStudy, run_case

__all__ = ["Case", "CaseError", "CaseStudy", "case_from_dict", "load_case", "run_case"]
