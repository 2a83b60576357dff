"""`make bench`: run every benchmark and print its figures (ratios against limits
measured in the same run, because the machines are shared and noisy)."""

from __future__ import annotations


def main() -> None:
    print("no benchmarks yet")


if __name__ == "__main__":
    main()
