"""Where allauth looks for providers (``<app>.provider.provider_classes``) and their URLs.

The provider itself lives in ``accounts.sso``.
"""

from accounts.sso import EveOnlineV2Provider

provider_classes = [EveOnlineV2Provider]
