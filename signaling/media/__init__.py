"""The media plane: the per-packet hot path of forwarding.

``adapter`` is the only module anywhere in the product that touches aiortc beyond its public
top-level API (single-underscore hooks, ``aiortc.rtp``, ``aiortc.sdp``…), pinned to one aiortc
version and checked by contract tests; ``source`` (one per published track), ``forwarder`` (one
per subscriber sender), ``rtp`` (packet arithmetic, no aiortc) and ``quality`` (bitrate profiles)
build on it. ``tests/test_import_rules.py`` enforces the rule.
"""
