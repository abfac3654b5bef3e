"""Input pipelines (to come): a ``Dataset`` made from in-memory arrays (slices), with
shuffle, batch, map and background prefetch on the host; an in-memory dataset iterated
inside ``jit`` becomes one IR loop.  Built on the public API only."""
