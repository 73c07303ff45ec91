#!/usr/bin/env python3
"""Opens N keep-alive connections to HOST:PORT, sends one GET on each, reads
the whole response, and keeps every connection open (idle) for HOLD seconds.
With --h2 first, the connections speak cleartext HTTP/2 (prior knowledge):
preface, SETTINGS, one GET on stream 1, its answer read to END_STREAM.

Used by bench/memory.sh to measure the proxy's memory per idle connection.
Standard library only. Prints, flushing each line:
  OPEN <ok> <failed> <seconds>    once every connection has its answer
  STILL_OPEN <n>                  after HOLD seconds: connections the server has not closed
"""

import asyncio
import resource
import sys
import time

CONCURRENT_OPENS = 256


async def one(host, port, gate, conns):
    async with gate:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
        writer.write(b"GET / HTTP/1.1\r\nHost: bench.local\r\nUser-Agent: idle-conns\r\n\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        if length:
            await asyncio.wait_for(reader.readexactly(length), 10)
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.split(b"\r\n")[0].decode(errors="replace"))
        conns.append((reader, writer))


async def one_h2(host, port, gate, conns):
    async with gate:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
        authority = b"bench.local"
        # HPACK: :method GET, :path /, :scheme http (static table), :authority literal.
        block = b"\x82\x84\x86\x41" + bytes([len(authority)]) + authority
        writer.write(
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
            + frame(0x4, 0, 0, b"")  # SETTINGS, defaults
            + frame(0x1, 0x5, 1, block)  # HEADERS, END_STREAM | END_HEADERS
        )
        await writer.drain()
        status = None
        while True:
            head = await asyncio.wait_for(reader.readexactly(9), 10)
            length = int.from_bytes(head[:3], "big")
            kind, flags, stream = head[3], head[4], int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
            payload = await asyncio.wait_for(reader.readexactly(length), 10)
            if kind == 0x4 and not flags & 0x1:
                writer.write(frame(0x4, 0x1, 0, b""))  # SETTINGS ACK
            elif kind == 0x7:
                raise RuntimeError("GOAWAY")
            elif stream == 1 and kind == 0x1:
                status = payload[:1]
            if stream == 1 and kind in (0x0, 0x1) and flags & 0x1:
                break
        # 0x88 is :status 200 from the static table.
        if status != b"\x88":
            raise RuntimeError(f"status block {status!r}")
        conns.append((reader, writer))


def frame(kind, flags, stream, payload):
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload


async def main(host, port, count, hold, h2=False):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    gate = asyncio.Semaphore(CONCURRENT_OPENS)
    conns = []
    start = time.monotonic()
    results = await asyncio.gather(
        *((one_h2 if h2 else one)(host, port, gate, conns) for _ in range(count)),
        return_exceptions=True,
    )
    failed = [r for r in results if isinstance(r, BaseException)]
    print(f"OPEN {len(conns)} {len(failed)} {time.monotonic() - start:.1f}", flush=True)
    if failed:
        print(f"first failure: {failed[0]!r}", file=sys.stderr, flush=True)
    await asyncio.sleep(hold)
    still_open = sum(1 for reader, _ in conns if not reader.at_eof())
    print(f"STILL_OPEN {still_open}", flush=True)
    for _, writer in conns:
        writer.close()


if __name__ == "__main__":
    args = sys.argv[1:]
    h2 = bool(args) and args[0] == "--h2"
    if h2:
        args = args[1:]
    if len(args) != 4:
        sys.exit("usage: idle_conns.py [--h2] HOST PORT COUNT HOLD_SECONDS")
    asyncio.run(main(args[0], int(args[1]), int(args[2]), float(args[3]), h2))
