"""The data the benchmarks run on, built directly with the library (fast, reproducible):

- a verifier home (anchor, registry, status lists) for N agencies with K keys each and status
  lists of a given size with a given share revoked;
- distinct valid permit tokens from those agencies, whose status bits are 0;
- a few revoked and forged tokens, for the soak test.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from keys.files import write_atomic
from keys.registry import Agency, AgencyKey, Names, PermitType, Registry
from keys.signer import KeySigner
from keys.trust import Root, make_bundle, sign_registry, sign_root
from permits.model import Permit
from permits.status_list import build_status_list
from permits.token import sign_permit

DAY = 86_400
TYPES = [
    ("business-registration", "Giấy chứng nhận đăng ký doanh nghiệp", "Business registration certificate", 3653),
    ("food-safety", "Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm", "Food safety certificate", 1096),
    ("alcohol-retail", "Giấy phép bán lẻ rượu", "Alcohol retail licence", 1827),
    ("construction", "Giấy phép xây dựng", "Construction permit", 1096),
]
NAMES = ["Công ty TNHH Thực phẩm Sạch Bình Minh", "Công ty Cổ phần Cà phê Phố Cổ Sài Gòn", "Hộ kinh doanh Quán Bia Bốn Mùa",
         "Công ty TNHH Xây dựng Hưng Thịnh Phát", "Công ty TNHH Nhà hàng Hương Sen", "Công ty TNHH Thương mại Bến Thành"]
STREETS = ["Lê Lợi", "Nguyễn Huệ", "Hai Bà Trưng", "Điện Biên Phủ", "Cách Mạng Tháng Tám", "Trần Hưng Đạo"]
WARDS = ["Phường Sài Gòn", "Phường Bến Thành", "Phường Tân Định", "Phường Xuân Hòa", "Phường Bàn Cờ"]


@dataclass
class World:
    home: Path
    valid: list[str]
    revoked: list[str]
    forged: list[str]


def _signer(rng: random.Random) -> KeySigner:
    return KeySigner(ed25519.Ed25519PrivateKey.from_private_bytes(rng.randbytes(32)))


def build(home: Path, now: int, *, agencies: int, keys_per_agency: int, list_size: int, revoked_share: float,
          tokens: int, seed: int = 1, status_base: str = "http://127.0.0.1/status") -> World:
    """`status_base`: where the registry says each agency's list is, status_base/AGENCY.jwt (the
    home's status/ directory is laid out as an origin's)."""
    rng = random.Random(seed)
    home.mkdir(parents=True, exist_ok=True)
    root_signer = _signer(rng)
    root = Root(registry="hcm", version=1, threshold=1, keys={root_signer.kid: root_signer.public_key()})
    registry = Registry(id="hcm", name="Thành phố Hồ Chí Minh", version=1, issued_at=now - DAY, expires_at=now + 30 * DAY,
                        types={}, agencies={})
    for code, vi, en, days in TYPES:
        registry = registry.with_type(PermitType(code, Names(vi, en), days))
    signers: dict[str, KeySigner] = {}
    members = {}
    for n in range(agencies):
        agency_id = f"hcm-a{n:04d}"
        code = TYPES[n % len(TYPES)][0]
        keys = []
        for k in range(keys_per_agency):
            signer = _signer(rng)
            # The older keys were superseded last year; the newest one signs.
            retired = (now - 300 * DAY, "superseded") if k < keys_per_agency - 1 else (None, None)
            keys.append(AgencyKey(agency_id, signer.public_key(), now - 400 * DAY + k, *retired))  # type: ignore[arg-type]
            signers[agency_id] = signer
        members[agency_id] = Agency(agency_id, Names(f"Sở số {n}", f"Department {n}"), (code,),
                                    f"{status_base}/{agency_id}.jwt", tuple(keys))
    # Built in one go: each edit of a Registry checks the whole of it again.
    registry = replace(registry, agencies=members)
    bundle = make_bundle([sign_root(root, [root_signer])], sign_registry(registry, [root_signer]))
    write_atomic(home / "anchor.json", json.dumps(root.to_dict()).encode())
    write_atomic(home / "registry.json", bundle)

    # Status lists: `revoked_share` of the entries revoked; tokens use indexes whose bit is 0.
    agency_ids = sorted(signers)
    issuing = agency_ids[: min(len(agency_ids), 50)]  # tokens come from up to 50 agencies
    per_agency = -(-tokens // len(issuing))
    revoked_at: dict[str, list[int]] = {}
    free_at: dict[str, list[int]] = {}
    for agency_id in agency_ids:
        chosen = rng.sample(range(list_size), int(list_size * revoked_share) + (per_agency + 8 if agency_id in issuing else 0))
        cut = int(list_size * revoked_share)
        revoked_at[agency_id], free_at[agency_id] = chosen[:cut], chosen[cut:]
        token = build_status_list(registry.agencies[agency_id].status_url, list_size, ((i, 1) for i in revoked_at[agency_id]), signers[agency_id], now - 60, now + 2 * DAY)
        write_atomic(home / "status" / f"{agency_id}.jwt", token.encode() + b"\n")

    def permit(agency_id: str, number: int, index: int) -> Permit:
        code = registry.agencies[agency_id].types[0]
        return Permit(agency=agency_id, id=f"B{number:07d}", number=f"{number}/2026/GP", type=code,
                      holder_id=f"03{rng.randrange(10**8):08d}", holder_name=rng.choice(NAMES),
                      holder_address=f"{rng.randrange(1, 400)} {rng.choice(STREETS)}, {rng.choice(WARDS)}, TP. Hồ Chí Minh",
                      activities=("Kinh doanh dịch vụ ăn uống",), conditions=(), issued_at=now - 10 * DAY,
                      valid_from=now - 10 * DAY, valid_until=now + 700 * DAY, status_index=index)

    valid = []
    for n in range(tokens):
        agency_id = issuing[n % len(issuing)]
        valid.append(sign_permit(permit(agency_id, n, free_at[agency_id].pop()), signers[agency_id]))
    revoked = [sign_permit(permit(a, 10**6 + i, revoked_at[a][i]), signers[a]) for i, a in enumerate(issuing[:20])]
    forged = []
    for token in valid[:20]:
        header, payload, signature = token.split(".")
        forged.append(f"{header}.{payload[:-2]}{'AA' if payload[-2:] != 'AA' else 'BA'}.{signature}")
    return World(home, valid, revoked, forged)
