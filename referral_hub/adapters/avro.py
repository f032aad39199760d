"""Avro on every topic, in Avro single-object encoding.

Until a schema registry is configured, each record carries its writer schema's
fingerprint before the body (0xC3 0x01, then the 8-byte little-endian CRC-64-AVRO
fingerprint of the schema's parsing canonical form), so any consumer holding the
`.avsc` files in schemas/avro/ can read it.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import fastavro
import fastavro.schema

MAGIC = b"\xc3\x01"


class UnknownSchema(ValueError):
    """The bytes do not start with the fingerprint of a schema we hold."""


class AvroCodec:
    def __init__(self, schema_dir: Path):
        self._by_name: dict[str, dict] = {}
        self._fingerprints: dict[str, bytes] = {}
        self._names: dict[bytes, str] = {}
        for path in sorted(schema_dir.glob("*.avsc")):
            schema = fastavro.parse_schema(json.loads(path.read_text(encoding="utf-8")))
            canonical = fastavro.schema.to_parsing_canonical_form(schema)
            # fastavro prints the CRC-64-AVRO fingerprint little-endian already.
            fingerprint = bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))
            self._by_name[path.stem] = schema
            self._fingerprints[path.stem] = fingerprint
            self._names[fingerprint] = path.stem

    def encode(self, schema_name: str, record: dict) -> bytes:
        buffer = io.BytesIO()
        buffer.write(MAGIC + self._fingerprints[schema_name])
        fastavro.schemaless_writer(buffer, self._by_name[schema_name], record)
        return buffer.getvalue()

    def decode(self, schema_name: str, data: bytes) -> dict:
        """Read a record written with the named schema (the fingerprint must match)."""
        if data[:2] != MAGIC or data[2:10] != self._fingerprints[schema_name]:
            raise UnknownSchema(f"not a single-object encoded {schema_name} record")
        return fastavro.schemaless_reader(io.BytesIO(data[10:]), self._by_name[schema_name])

    def decode_any(self, data: bytes) -> tuple[str, dict]:
        """Read a record of whichever schema its fingerprint names: (schema name, record)."""
        name = self._names.get(data[2:10]) if data[:2] == MAGIC else None
        if name is None:
            raise UnknownSchema("not a single-object encoded record of a schema in schemas/avro")
        return name, self.decode(name, data)
