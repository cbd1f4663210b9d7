"""Reads a trace `notifier-top export perfetto` wrote, with Perfetto's own generated
protobuf classes (the `perfetto` package on PyPI; no trace_processor binary, no network),
checks what trace_processor relies on, and prints what it found as JSON for
tests/perfetto.rs to compare with the recording's events.

Checks (each failure is listed under "errors"):
- the first packet clears the sequence's incremental state and makes CLOCK_MONOTONIC the
  trace's clock; every packet is on one trusted sequence, every timestamp on MONOTONIC;
- every track is described once, before its first event, and its parent before it;
- per track, slices nest strictly: pairing each end with the latest open begin after a
  stable sort by time (what trace_processor does) gives the same slices as pairing them
  in file order (what the writer meant); no end without a begin, nothing left open.

Usage: python3 perfetto_decode.py TRACE
"""

import collections
import json
import sys

from perfetto.protos.perfetto.trace import perfetto_trace_pb2 as pb

MONOTONIC = 3
TE = pb.TrackEvent


def pairs(events):
    """Slices as (begin index, end index) from events [(ts, index, type)] in the order
    given; also the ends without a begin and the begins never ended."""
    stack, out, orphans = [], set(), 0
    for _, i, kind in events:
        if kind == TE.TYPE_SLICE_BEGIN:
            stack.append(i)
        elif kind == TE.TYPE_SLICE_END:
            if stack:
                out.add((stack.pop(), i))
            else:
                orphans += 1
    return out, orphans, len(stack)


def main(path):
    trace = pb.Trace()
    with open(path, "rb") as f:
        trace.ParseFromString(f.read())
    errors = []
    packets = list(trace.packet)
    if not packets:
        errors.append("no packets")
    else:
        first = packets[0]
        if not first.sequence_flags & pb.TracePacket.SEQ_INCREMENTAL_STATE_CLEARED:
            errors.append("first packet does not clear the incremental state")
        if first.clock_snapshot.primary_trace_clock != MONOTONIC:
            errors.append("first packet does not make MONOTONIC the trace clock")
    sequences = {p.trusted_packet_sequence_id for p in packets}
    if len(sequences) != 1 or 0 in sequences:
        errors.append(f"packets on sequences {sorted(sequences)}")

    tracks = {}  # uuid -> descriptor
    per_track = collections.defaultdict(list)  # uuid -> [(ts, index, type)]
    slices = collections.Counter()  # category -> begins
    instants = collections.Counter()  # category -> instants
    samples = collections.Counter()  # counter track name -> samples
    names = collections.Counter()  # category/name -> slices and instants
    stacks = 0  # findings with a callstack
    for i, p in enumerate(packets):
        if p.HasField("timestamp") and p.timestamp_clock_id != MONOTONIC:
            errors.append(f"packet {i}: timestamp on clock {p.timestamp_clock_id}")
        if p.HasField("track_descriptor"):
            d = p.track_descriptor
            if d.uuid in tracks:
                errors.append(f"packet {i}: track {d.uuid} described twice")
            if d.HasField("parent_uuid") and d.parent_uuid not in tracks:
                errors.append(f"packet {i}: track {d.uuid} before its parent")
            tracks[d.uuid] = d
        if p.HasField("track_event"):
            e = p.track_event
            if e.track_uuid not in tracks:
                errors.append(f"packet {i}: event on track {e.track_uuid} before its descriptor")
                continue
            if not p.HasField("timestamp"):
                errors.append(f"packet {i}: event without a timestamp")
            per_track[e.track_uuid].append((p.timestamp, i, e.type))
            cat = ",".join(e.categories)
            if e.type == TE.TYPE_SLICE_BEGIN:
                slices[cat] += 1
                names[f"{cat}/{e.name}"] += 1
            elif e.type == TE.TYPE_INSTANT:
                instants[cat] += 1
                names[f"{cat}/{e.name}"] += 1
                if e.HasField("callstack") and e.callstack.frames:
                    stacks += 1
            elif e.type == TE.TYPE_COUNTER:
                samples[tracks[e.track_uuid].name] += 1
                if not tracks[e.track_uuid].HasField("counter"):
                    errors.append(f"packet {i}: counter value on a track that is no counter")

    misnested = 0
    for uuid, events in per_track.items():
        meant, orphans, left = pairs(events)
        got, _, _ = pairs(sorted(events, key=lambda e: (e[0], e[1])))
        if orphans or left:
            errors.append(f"track {uuid}: {orphans} ends without a begin, {left} never ended")
        if meant != got:
            misnested += 1
    if misnested:
        errors.append(f"{misnested} tracks whose slices do not nest by time")

    kinds = collections.Counter()
    for d in tracks.values():
        if d.HasField("process"):
            kinds["process"] += 1
        elif d.HasField("counter"):
            kinds[f"counter/{d.name}"] += 1
        elif d.name.startswith("address space"):
            kinds["address space"] += 1
        elif d.name in ("invalidations", "HMM migrations", "device memory evictions", "findings"):
            kinds[d.name] += 1
        elif d.HasField("sibling_merge_key") and d.HasField("description"):
            kinds["interval lane"] += 1
        else:
            kinds["interval"] += 1
    json.dump(
        {
            "errors": errors,
            "packets": len(packets),
            "tracks": sum(kinds.values()),
            "track_kinds": dict(kinds),
            "slices": dict(slices),
            "instants": dict(instants),
            "counter_samples": dict(samples),
            "names": dict(names),
            "findings_with_stacks": stacks,
            "processes": sorted(
                [d.process.pid, d.process.process_name]
                for d in tracks.values()
                if d.HasField("process")
            ),
        },
        sys.stdout,
        indent=1,
        sort_keys=True,
    )
    print()


if __name__ == "__main__":
    main(sys.argv[1])
