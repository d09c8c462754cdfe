"""ExternalService (TP §1.2): tags + networking (address, tls, disableHostDNSEntry)."""

from __future__ import annotations

from typing import Optional

from .base import Bool, KumaModel, Str, StrMap


class DataSource(KumaModel):
    secret: Str = None
    file: Str = None
    inline: Str = None  # base64 bytes in JSON
    inlineString: Str = None


class Tls(KumaModel):
    enabled: Bool = None
    allowRenegotiation: Bool = None
    skipHostnameVerification: Bool = None
    caCert: Optional[DataSource] = None
    clientCert: Optional[DataSource] = None
    clientKey: Optional[DataSource] = None
    serverName: Str = None


class Networking(KumaModel):
    address: Str = None
    tls: Optional[Tls] = None
    disableHostDNSEntry: Bool = None


class ExternalService(KumaModel):
    tags: StrMap = None
    networking: Optional[Networking] = None
