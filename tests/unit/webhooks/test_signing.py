import hashlib
import hmac

from vitae.webhooks.signing import new_secret, signature_header, verify

BODY = b'{"id":"evt_1","type":"export.completed"}'


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    secret = new_secret()
    header = signature_header(secret, 1_700_000_000, BODY)
    expected = hmac.new(secret.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_verify_accepts_a_fresh_signature_and_refuses_tampering_and_replays() -> None:
    secret = new_secret()
    header = signature_header(secret, 1_700_000_000, BODY)
    assert verify(secret, header, BODY, now=1_700_000_010)
    assert not verify(secret, header, BODY + b" ", now=1_700_000_010)
    assert not verify(new_secret(), header, BODY, now=1_700_000_010)
    assert not verify(secret, header, BODY, now=1_700_000_000 + 301), "too old: a replay"
    assert not verify(
        secret, header.replace("t=1700000000", "t=1700000005"), BODY, now=1_700_000_010
    )
    assert not verify(secret, "v1=abc", BODY, now=1_700_000_010)


def test_secrets_are_distinct_and_long() -> None:
    secrets = {new_secret() for _ in range(100)}
    assert len(secrets) == 100
    assert all(s.startswith("whsec_") and len(s) >= 40 for s in secrets)
