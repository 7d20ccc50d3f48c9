"""The golden transcripts through every adapter, over real HTTP on 127.0.0.1."""
