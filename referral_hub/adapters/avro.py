"""Avro on every topic, in Avro single-object encoding or, with a schema registry, the
Confluent wire format.

Without a registry, each record carries its writer schema's fingerprint before the body
(0xC3 0x01, then the 8-byte little-endian CRC-64-AVRO fingerprint of the schema's parsing
canonical form), so any consumer holding the `.avsc` files in schemas/avro/ can read it.

With one (RH_SCHEMA_REGISTRY_URL), RegistryCodec: a zero byte, the 4-byte big-endian id
the registry gave the schema, then the body, as Confluent's serializers write and every
Kafka tool reads.
"""
from __future__ import annotations

import io
import json
import time
from pathlib import Path

import fastavro
import fastavro.schema

MAGIC = b"\xc3\x01"
REGISTRY_RETRY_PAUSES = (1.0, 2.0, 3.0)  # seconds, then a last try


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

    def schemas(self) -> dict[str, dict]:
        """Schema name (the file's stem) -> the parsed schema."""
        return dict(self._by_name)


class RegistryCodec(AvroCodec):
    """The Confluent wire format through confluent-kafka's schema registry client. Each
    schema is registered under its record's full name (RecordNameStrategy: deliveries.v1
    holds several record types), with BACKWARD compatibility: a new version must read what
    the old one wrote. Ids are asked once and kept."""

    def __init__(self, schema_dir: Path, registry_url: str):
        from confluent_kafka.schema_registry import SchemaRegistryClient

        super().__init__(schema_dir)
        self._registry = SchemaRegistryClient({"url": registry_url})
        self._ids: dict[str, int] = {}
        self._by_id: dict[int, str] = {}
        for name, schema in self.schemas().items():
            schema_id = self._register(schema["name"], fastavro.schema.to_parsing_canonical_form(schema))
            self._ids[name], self._by_id[schema_id] = schema_id, name

    def _register(self, subject: str, canonical: str) -> int:
        """The services start together, and Apicurio answers 409 to the second of two
        registering the same subject at once: asked again, it has the schema and the rule."""
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        for pause in REGISTRY_RETRY_PAUSES:
            try:
                return self._register_once(subject, canonical)
            except SchemaRegistryError:
                time.sleep(pause)
        return self._register_once(subject, canonical)

    def _register_once(self, subject: str, canonical: str) -> int:
        """The schema's id, registered if new; then the subject made BACKWARD (after: a
        registry may know no subject before its first schema)."""
        from confluent_kafka.schema_registry import Schema
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        schema_id = self._registry.register_schema(subject, Schema(canonical, "AVRO"))
        try:
            level = self._registry.get_compatibility(subject)
        except SchemaRegistryError:  # no rule of its own yet
            level = None
        if level != "BACKWARD":
            self._registry.set_compatibility(subject_name=subject, level="BACKWARD")
        return schema_id

    def encode(self, schema_name: str, record: dict) -> bytes:
        buffer = io.BytesIO()
        buffer.write(b"\x00" + self._ids[schema_name].to_bytes(4, "big"))
        fastavro.schemaless_writer(buffer, self._by_name[schema_name], record)
        return buffer.getvalue()

    def decode(self, schema_name: str, data: bytes) -> dict:
        name, record = self.decode_any(data)
        if name != schema_name:
            raise UnknownSchema(f"a {name} record, not {schema_name}")
        return record

    def decode_any(self, data: bytes) -> tuple[str, dict]:
        name = self._by_id.get(int.from_bytes(data[1:5], "big")) if data[:1] == b"\x00" else None
        if name is None:
            raise UnknownSchema("not a record in the Confluent wire format of a schema in schemas/avro")
        return name, fastavro.schemaless_reader(io.BytesIO(data[5:]), self._by_name[name])


def codec_for(settings) -> AvroCodec:
    """The codec HubSettings ask for: the registry's wire format when one is configured."""
    if settings.schema_registry_url:
        return RegistryCodec(settings.schema_dir, settings.schema_registry_url)
    return AvroCodec(settings.schema_dir)
