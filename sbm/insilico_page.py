"""The in-silico experiments as one self-contained HTML page (no server, works offline): pick a
fish, a target and a kind, and see the response over time on the brain map (the SBM's and, on
simulated fish, the simulator's), the behaviour effect and the experiment's scores.

The page embeds the responses of eval/insilico_responses.h5 (a subsample of at most
`max_neurons` neurons per fish, each experiment's response quantised to 8 bits on its own scale)
and the experiments of eval/insilico.json; its script draws them on canvases.
"""

import base64
import html
import json

import numpy as np

from sbm.io.contracts import INSILICO_RESPONSES, read_groups
from sbm.io.errors import InputError


def _quantised(values: np.ndarray, path, name: str) -> dict:
    """(E, H, n) responses -> base64 int8 codes and one scale per experiment (value = code * scale).
    A response is a difference of two rollouts, always finite: anything else is refused, not drawn."""
    values = values.astype(np.float32)
    if not np.all(np.isfinite(values)):
        raise InputError(path, f"{name} holds {int((~np.isfinite(values)).sum())} non-finite values: rerun insilico")
    scale = np.abs(values).reshape(len(values), -1).max(axis=1) / 127
    scale = np.where(scale > 0, scale, 1.0)
    codes = np.round(values / scale[:, None, None]).astype(np.int8)
    return {"data": base64.b64encode(codes.tobytes()).decode(), "scale": scale.tolist()}


def page_data(responses_path, metrics: dict, max_neurons: int = 1500, seed: int = 0) -> dict:
    """What the page draws, per fish: positions, groups, experiments and their responses."""
    fishes = {}
    for subject, g in read_groups(responses_path, INSILICO_RESPONSES).items():
        N = len(g["xyz"])
        keep = np.sort(np.random.default_rng(seed).permutation(N)[:max_neurons])
        experiments = [str(e) for e in g["experiments"]]
        entries = {f"{e['target']}:{e['kind']}": e for e in metrics["experiments"] if e["subject"] == subject}
        fish = {
            "xy": np.round(g["xyz"][keep][:, :2], 3).tolist(),
            "group": g["group"][keep].tolist(),
            "group_names": [str(n) for n in g["group_names"]],
            "experiments": experiments,
            "fps": float(g["fps"]),
            "start": int(g["start"]),
            "duration": int(g["duration"]),
            "horizon": int(g["response_sbm"].shape[1]),
            "sbm": _quantised(g["response_sbm"][:, :, keep], f"{responses_path}:{subject}", "response_sbm"),
            "behavior_names": [str(n) for n in g["behavior_names"]],
            "behavior_sbm": np.round(g["behavior_sbm"], 5).tolist(),
            "scores": [entries[e].get("scores", {}).get("sbm") for e in experiments],
        }
        if "response_truth" in g:
            fish["truth"] = _quantised(g["response_truth"][:, :, keep], f"{responses_path}:{subject}", "response_truth")
            fish["drive_truth"] = np.round(g["drive_truth"], 5).tolist()
        fishes[subject] = fish
    return {"fishes": fishes, "drive_names": ["left_turn", "right_turn", "forward_swim"]}


def page_html(data: dict, title: str = "In-silico optogenetics") -> str:
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return _TEMPLATE.replace("%TITLE%", html.escape(title)).replace("%DATA%", payload)


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>%TITLE%</title>
<style>
 body { font-family: sans-serif; margin: 1.5em; color: #222; }
 .maps { display: flex; gap: 1.5em; flex-wrap: wrap; }
 .map h3 { margin: 0.3em 0; font-size: 1em; }
 canvas { border: 1px solid #ccc; }
 label { margin-right: 1em; }
 table { border-collapse: collapse; margin-top: 0.8em; }
 td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
 .note { color: #555; font-size: 0.9em; max-width: 60em; }
</style></head><body>
<h1>%TITLE%</h1>
<p class="note">Each experiment perturbs every neuron of one target (a population of a simulated fish, or a
region) from a forecast step on, inside rollouts of the Sparse Brain Model from the same starting frames;
the maps show the perturbed minus the unperturbed rollout (change in spike probability, red up, blue down,
both maps of an experiment on one symmetric scale, set by the largest change outside the targets) seen from
above, front to the left. Target neurons are ringed (their own change saturates the scale).
On simulated fish the simulator's replay of the same experiment is beside it.</p>
<div>
 <label>Fish <select id="fish"></select></label>
 <label>Target <select id="target"></select></label>
 <label>Kind <select id="kind"></select></label>
 <label>Frame <input id="frame" type="range" min="0" value="0"></label> <span id="frame-label"></span>
</div>
<div class="maps">
 <div class="map"><h3>SBM (predicted)</h3><canvas id="map-sbm" width="520" height="360"></canvas></div>
 <div class="map" id="truth-box"><h3>Simulator truth</h3>
  <canvas id="map-truth" width="520" height="360"></canvas></div>
</div>
<div id="scores" class="note"></div>
<table id="behavior"></table>
<script id="data" type="application/json">%DATA%</script>
<script>
"use strict";
const DATA = JSON.parse(document.getElementById("data").textContent);
const $ = (id) => document.getElementById(id);
function decode(q) {
  const bytes = Uint8Array.from(atob(q.data), (c) => c.charCodeAt(0));
  return { codes: new Int8Array(bytes.buffer), scale: q.scale };
}
const decoded = {};
function fish() { return DATA.fishes[$("fish").value]; }
function responses(name) {
  const key = $("fish").value + "/" + name;
  if (!(key in decoded)) decoded[key] = decode(fish()[name]);
  return decoded[key];
}
function experiment() {
  return fish().experiments.indexOf($("target").value + ":" + $("kind").value);
}
function colour(v) {
  const a = Math.min(1, Math.abs(v));
  const c = Math.round(255 * (1 - a));
  return v >= 0 ? `rgb(255,${c},${c})` : `rgb(${c},${c},255)`;
}
function draw(canvasId, name, e, frame, scale) {
  const f = fish(), canvas = $(canvasId), ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, canvas.width, canvas.height);
  const r = responses(name), n = f.xy.length, H = f.horizon;
  const targetGroup = f.group_names.indexOf($("target").value);
  const offset = (e * H + frame) * n;
  for (let i = 0; i < n; i++) {
    const x = (f.xy[i][0] + 1) / 2 * (canvas.width - 20) + 10;
    const y = (f.xy[i][1] + 1) / 2 * (canvas.height - 20) + 10;
    const value = r.codes[offset + i] * r.scale[e] / scale;
    ctx.beginPath(); ctx.arc(x, y, 3, 0, 2 * Math.PI);
    ctx.fillStyle = colour(value); ctx.fill();
    if (f.group[i] === targetGroup) { ctx.strokeStyle = "#000"; ctx.lineWidth = 0.8; ctx.stroke(); }
  }
}
function largest(name, e) {
  // the largest change outside the targets (the targets, ringed, change most and would hide the rest)
  const f = fish(), r = responses(name), n = f.xy.length, H = f.horizon;
  const targetGroup = f.group_names.indexOf($("target").value);
  let most = 0;
  for (let k = 0; k < H; k++)
    for (let i = 0; i < n; i++)
      if (f.group[i] !== targetGroup) most = Math.max(most, Math.abs(r.codes[(e * H + k) * n + i] * r.scale[e]));
  return most;
}
function render() {
  const f = fish(), e = experiment(), frame = +$("frame").value;
  if (e < 0) return;
  const hasTruth = "truth" in f;
  $("truth-box").style.display = hasTruth ? "" : "none";
  const step = frame - f.start, active = frame >= f.start && frame < f.start + f.duration;
  $("frame-label").textContent = `step ${frame} (${(frame / f.fps).toFixed(1)} s)` + (active ? ", perturbed" : "");
  const scale = Math.max(largest("sbm", e), hasTruth ? largest("truth", e) : 0) || 1;
  draw("map-sbm", "sbm", e, frame, scale);
  if (hasTruth) draw("map-truth", "truth", e, frame, scale);
  const s = f.scores[e];
  $("scores").textContent = s ? `response map r ${s.r === null ? "none" : s.r.toFixed(2)}, responder AUROC ` +
    `${s.auroc === null ? "none" : s.auroc.toFixed(2)}, sign agreement ${s.sign_agreement === null ? "none" :
    s.sign_agreement.toFixed(2)} (${s.responders} responding groups)` : "no truth: predicted responses only";
  const rows = ["<tr><th>behaviour</th><th>SBM + PNM change</th><th>simulator drive change</th></tr>"];
  const window = [...Array(f.duration).keys()].map((k) => k + f.start);
  const mean = (xs) => window.reduce((a, k) => a + xs[k], 0) / window.length;
  f.behavior_names.forEach((name, d) => {
    const j = DATA.drive_names.indexOf(name);
    const truth = hasTruth && j >= 0 ? mean(f.drive_truth[e][j]).toFixed(4) : "";
    rows.push(`<tr><td>${name}</td><td>${mean(f.behavior_sbm[e][d]).toFixed(4)}</td><td>${truth}</td></tr>`);
  });
  $("behavior").innerHTML = f.behavior_names.length ? rows.join("") : "";
}
function options(select, values) {
  select.innerHTML = values.map((v) => `<option value="${v}">${v}</option>`).join("");
}
function chooseFish() {
  const f = fish();
  const targets = [...new Set(f.experiments.map((e) => e.split(":")[0]))];
  const kinds = [...new Set(f.experiments.map((e) => e.split(":")[1]))];
  options($("target"), targets); options($("kind"), kinds);
  $("frame").max = f.horizon - 1; $("frame").value = Math.min(f.horizon - 1, f.start + 1);
  render();
}
options($("fish"), Object.keys(DATA.fishes));
$("fish").addEventListener("change", chooseFish);
for (const id of ["target", "kind", "frame"]) $(id).addEventListener("input", render);
for (const id of ["target", "kind"]) $(id).addEventListener("change", render);
chooseFish();
</script></body></html>
"""
