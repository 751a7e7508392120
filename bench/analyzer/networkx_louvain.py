"""The peer for the clustering step: networkx's Louvain on the same weighted
table graph (foreign keys + queries from a pymigrate analysis JSON). Prints
the median seconds of RUNS runs and the number of communities."""
import json
import math
import statistics
import sys
import time

import networkx as nx

with open(sys.argv[1]) as f:
    model = json.load(f)["model"]
runs = int(sys.argv[2])


def build():
    g = nx.Graph()
    g.add_nodes_from(t["key"] for t in model["tables"])
    for fk in model["foreign_keys"]:
        if fk["table"] != fk["ref_table"]:
            w = g.get_edge_data(fk["table"], fk["ref_table"], {"weight": 0})["weight"]
            g.add_edge(fk["table"], fk["ref_table"], weight=w + 1)
    calls = {}
    for q in model["queries"]:
        t = q["tables"]
        for i in range(len(t)):
            for j in range(i + 1, len(t)):
                calls[(t[i], t[j])] = calls.get((t[i], t[j]), 0) + q["calls"] / (len(t) - 1)
    top = max(calls.values(), default=1)
    for (a, b), c in calls.items():
        w = g.get_edge_data(a, b, {"weight": 0})["weight"]
        g.add_edge(a, b, weight=w + math.log1p(c) / math.log1p(top))
    return g


times = []
for _ in range(runs):
    t0 = time.perf_counter()
    communities = nx.community.louvain_communities(build(), weight="weight", seed=42)
    times.append(time.perf_counter() - t0)
print(f"{statistics.median(times):.3f} {len(communities)}")
