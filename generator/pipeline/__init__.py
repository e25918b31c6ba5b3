"""The stages that turn inputs into rows: sources, plan, composite, depth, encode, shard."""
