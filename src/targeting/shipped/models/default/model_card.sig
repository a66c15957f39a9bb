{
 "format": 1,
 "algorithm": "ed25519",
 "key": "ed25519:1dea63520069440f",
 "card_sha256": "d773c8be4b01d798e8de214adebc4fe2a5143893a1ff92879ffa3e24c2d35bef",
 "signed_at": "2026-12-01T22:49:04+00:00",
 "signature": "SLFBhtUu/X+rH0KGZbzsBsDJAibfAryO3qR8FTrK7YbU15GyYSDy9UeNhb/qEPgJM0OLYNw/5hTD5++GzeLsDQ=="
}
