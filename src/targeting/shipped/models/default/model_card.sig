{
 "format": 1,
 "algorithm": "ed25519",
 "key": "ed25519:1dea63520069440f",
 "card_sha256": "054708bf1e5d3c559a92d49093d2cafc0ad84e68496247683c14b6b1eb92dd16",
 "signed_at": "2026-12-02T00:00:27+00:00",
 "signature": "+lDjIsY0f4ZL3U060F68KgRMNq6Jf0HiWfBcZ3u2auOO+VV2GIwKvqjiGikXIsX3xU06ggHtG94fk5K9GJHOBA=="
}
