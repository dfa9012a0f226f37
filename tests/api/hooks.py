"""Schemathesis hooks for tests/api/run.sh (loaded through SCHEMATHESIS_HOOKS).

The upload endpoint's PATCH takes tus's `application/offset+octet-stream` (raw bytes);
schemathesis sends those as it sends `application/octet-stream`.
"""

import schemathesis

schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
