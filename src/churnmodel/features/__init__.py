"""Point-in-time feature builders, one module per family (see :mod:`.base`)."""

from churnmodel.features import engagement, profile, rfm, satisfaction, service  # noqa: F401  (registers)
from churnmodel.features.base import REGISTRY, available_builders, build_features, fix_builders, register
from churnmodel.features.engagement import contact_features, engagement_features
from churnmodel.features.profile import profile_features
from churnmodel.features.rfm import rfm_features
from churnmodel.features.satisfaction import nps_group, satisfaction_features
from churnmodel.features.service import service_features

__all__ = [
    "REGISTRY", "available_builders", "build_features", "contact_features",
    "engagement_features", "fix_builders", "register", "nps_group",
    "profile_features", "rfm_features", "satisfaction_features", "service_features",
]
