"""The active ISO 4217 currency codes and the decimal places (minor-unit digits) of each.

From the ISO 4217 list of current codes (as of 2025), less the funds codes, precious
metals, SDR and testing codes that no service is priced in (BOV, CHE, CHW, CLF, COU, MXV, USN,
UYI, UYW, XAG, XAU, XBA to XBD, XDR, XPD, XPT, XSU, XTS, XUA, XXX).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

_ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF"
_THREE = "BHD IQD JOD KWD LYD OMR TND"
_TWO = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN "
    "BZD CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP "
    "GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD "
    "LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN "
    "PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL "
    "THB TJS TMT TOP TRY TTD TWD TZS UAH USD UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG"
)

EXPONENTS: Final = MappingProxyType(
    {code: 0 for code in _ZERO.split()}
    | {code: 3 for code in _THREE.split()}
    | {code: 2 for code in _TWO.split()}
)
"""Each active ISO 4217 code and its number of decimal places (``EUR``: 2, ``JPY``: 0)."""

ISO_4217: Final = frozenset(EXPONENTS)
"""The active ISO 4217 codes an amount may be in."""
