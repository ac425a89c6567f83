#!/usr/bin/env python3
"""One page for several `mld compare` reports of the same reference: the paper's selfish agents
beside the conservative ones.

Usage: side-by-side.py OUT_DIR LABEL=REPORT_DIR [LABEL=REPORT_DIR ...]
Writes OUT_DIR/index.html (a table: every observable of the reports' summary.json, the CP2K
reference and each learned run, with links to the full reports) and OUT_DIR/summary.md (the same
table in Markdown). Reports are linked by their path relative to OUT_DIR.
"""
import html
import json
import os
import sys


def fmt(x):
    if x is None:
        return "-"
    return "%.4g" % x


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    out = argv[0]
    reports = []
    for a in argv[1:]:
        if "=" not in a:
            raise SystemExit(__doc__)
        label, path = a.split("=", 1)
        with open(os.path.join(path, "summary.json")) as f:
            reports.append((label, path, json.load(f)))
    names, rows = [], {}
    for _, _, s in reports:
        for x in s["scalars"]:
            if x["name"] not in rows:
                names.append(x["name"])
                rows[x["name"]] = {"unit": x.get("unit", ""), "description": x.get("description", ""),
                                   "reference": x.get("reference")}
    md = ["| observable | unit | CP2K | " + " | ".join(l for l, _, _ in reports) + " |",
          "|---|---|---:|" + "---:|" * len(reports)]
    for n in names:
        vals = []
        for _, _, s in reports:
            v = next((x.get("learned") for x in s["scalars"] if x["name"] == n), None)
            vals.append(fmt(v))
        md.append("| %s | %s | %s | %s |" % (n, rows[n]["unit"], fmt(rows[n]["reference"]), " | ".join(vals)))
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "summary.md.tmp"), "w") as f:
        f.write("\n".join(md) + "\n")
    os.replace(os.path.join(out, "summary.md.tmp"), os.path.join(out, "summary.md"))
    h = ["<!doctype html><meta charset=utf-8><title>mld: learned water against CP2K</title>",
         "<h1>Learned water against CP2K</h1><p>Full reports: " +
         ", ".join('<a href="%s/index.html">%s</a>' % (html.escape(os.path.relpath(p, out)), html.escape(l)) for l, p, _ in reports) +
         ".</p><table border=1 cellpadding=3><tr><th>observable</th><th>unit</th><th>CP2K</th>" +
         "".join("<th>%s</th>" % html.escape(l) for l, _, _ in reports) + "</tr>"]
    for n in names:
        h.append("<tr><td title=\"%s\">%s</td><td>%s</td><td>%s</td>" % (html.escape(rows[n]["description"]), n,
                 html.escape(rows[n]["unit"]), fmt(rows[n]["reference"])))
        for _, _, s in reports:
            v = next((x.get("learned") for x in s["scalars"] if x["name"] == n), None)
            h.append("<td>%s</td>" % fmt(v))
        h.append("</tr>")
    h.append("</table>")
    with open(os.path.join(out, "index.html.tmp"), "w") as f:
        f.write("\n".join(h) + "\n")
    os.replace(os.path.join(out, "index.html.tmp"), os.path.join(out, "index.html"))


if __name__ == "__main__":
    main(sys.argv[1:])
