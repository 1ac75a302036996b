"""The top costs of a py-spy profile in collapsed ("raw") format, as bench/README.md lists them.

    .venv/bin/python bench/profile_top.py /tmp/d.txt [--top 25] [--match actions.py]

Prints each function's share of the samples: inclusive (it or anything it called was on the
CPU) and self (it was the innermost frame).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

# py-spy frames read "function (path/to/file.py:line)"; the line differs per call site.
FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]*)(?::\d+)?\)$")


def frame_name(frame: str) -> str:
    match = FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = match["file"]
    short = "/".join(path.split("/")[-2:])
    return f"{match['func']} ({short})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", default="", help="only functions whose name holds this")
    args = parser.parse_args()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in Path(args.profile).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = [frame_name(frame) for frame in stack.split(";")]
        # A thread's name is the first frame py-spy writes; skip nothing, count once each.
        for name in set(frames):
            inclusive[name] += samples
        own[frames[-1]] += samples
    print(f"{total} samples")
    print("inclusive:")
    for name, samples in inclusive.most_common():
        if args.match in name:
            print(f"  {100 * samples / total:5.1f}%  {name}")
            args.top -= 1
            if args.top <= 0:
                break
    print("self:")
    for name, samples in own.most_common(25):
        print(f"  {100 * samples / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()
