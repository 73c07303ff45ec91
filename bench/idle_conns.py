#!/usr/bin/env python3
"""Opens N keep-alive connections to HOST:PORT, sends one GET on each, reads
the whole response, and keeps every connection open (idle) for HOLD seconds.

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


async def main(host, port, count, hold):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    gate = asyncio.Semaphore(CONCURRENT_OPENS)
    conns = []
    start = time.monotonic()
    results = await asyncio.gather(
        *(one(host, port, gate, conns) for _ in range(count)), return_exceptions=True
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
    if len(sys.argv) != 5:
        sys.exit("usage: idle_conns.py HOST PORT COUNT HOLD_SECONDS")
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])))
