"""Uploads read as a stream (a scan or a document may exceed the form limit): the text fields
and one file, at most ``limit`` bytes (one byte more tells the caller it was too big)."""

from __future__ import annotations

from aiohttp import BodyPartReader, web


async def read_upload(
    request: web.Request, file_field: str, limit: int
) -> tuple[dict[str, str], bytes]:
    fields: dict[str, str] = {}
    data = b""
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        if part.name == file_field:
            chunks, size = [], 0
            while chunk := await part.read_chunk(256 * 1024):
                size += len(chunk)
                if size > limit:
                    return fields, b"\x00" * (limit + 1)
                chunks.append(chunk)
            data = b"".join(chunks)
        else:
            fields[part.name] = (await part.text())[:1000]
    return fields, data
