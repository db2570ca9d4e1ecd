/// The status page served at `GET /`: one self-contained HTML document (inline CSS and JS, no
/// external resources).
///
/// Contract:
/// - `render(_:)` writes the tables for the snapshot it is given into the HTML, so the page shows
///   the clusters on first paint, without JS and before any fetch.
/// - The script fetches `/status` at once on load, then every 2 s, and redraws the same markup from
///   the JSON (the JS `render` mirrors the Swift one below: change both together).
/// - Without JS a `<noscript>` note says so and the page reloads itself every 10 s.
/// - Every text from the snapshot is HTML-escaped (cluster names come from the configuration).
enum StatusPage {
    /// For the `Content-Security-Policy` header: inline style and script only, fetches to this origin.
    static let contentSecurityPolicy =
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; "
        + "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    static func render(_ status: ProxyStatus) -> [UInt8] {
        var html = #"<!doctype html><html lang="en"><head><meta charset="utf-8">"#
        html += #"<meta name="viewport" content="width=device-width,initial-scale=1">"#
        html += #"<title>metacluster status</title><link rel="icon" href="data:,">"#
        html += #"<noscript><meta http-equiv="refresh" content="10"></noscript><style>"# + css + "</style></head><body>"
        html += #"<header><h1>metacluster</h1><div class="meta" id="meta">"# + meta(status) + "</div></header>"
        html += #"<noscript><p class="note">JavaScript is off: this page shows the state when it was loaded "#
        html += #"and reloads itself every 10 s. The raw data is at <a href="/status">/status</a>.</p></noscript>"#
        html += #"<main id="app">"# + body(status) + "</main>"
        html += #"<footer id="live" class="muted">Snapshot from the server; live updates every 2 s.</footer>"#
        html += "<script>" + script + "</script></body></html>\n"
        return Array(html.utf8)
    }

    // MARK: server-side rendering (mirrored by the script)

    private static let columns = [
        "Cluster", "State", "Servers down", "Latency", "Read rank", "Backlog", "Oldest held", "Missed writes",
        "Dropped writes", "Unknown outcomes", "Repaired keys", "Replayed writes", "Requests", "Errors", "Verified reads",
        "Mismatch rate",
    ]

    private static func meta(_ s: ProxyStatus) -> String {
        var text = "<span>version " + esc(s.version) + "</span><span>up " + duration(s.uptimeSeconds) + "</span>"
        text += "<span>write ack: " + esc(s.writeAck) + "</span>"
        if let path = s.configPath { text += "<span>config: " + esc(path) + "</span>" }
        return text
    }

    private static func body(_ s: ProxyStatus) -> String {
        var text = ""
        for view in s.protocols {
            text += "<section><h2>" + esc(view.name) + #"</h2><p class="order">Read order: "#
            text += view.readOrder.isEmpty
                ? #"<span class="bad">none: no cluster can serve reads</span>"#
                : view.readOrder.map { "<b>" + esc($0) + "</b>" }.joined(separator: " → ")
            text += "</p>" + table(columns, rows: view.clusters.map(row)) + "</section>"
        }
        let listenerRows = s.listeners.map {
            #"<td class="l">"# + esc($0.name) + #"</td><td class="l">"# + esc($0.address) + "</td><td>" + number($0.clients)
                + "</td><td>" + number($0.protocolErrors) + "</td>"
        }
        text += "<section><h2>Listeners</h2>" + table(["Listener", "Address", "Clients", "Protocol errors"], rows: listenerRows)
        text += "</section><section><h2>Last reload</h2><p>"
        if let r = s.lastReload {
            text += UTCDate(unixSeconds: r.atUnixSeconds).text
            text += r.applied ? #" · <span class="ok">applied</span> · "# : #" · <span class="bad">not applied</span> · "#
            text += esc(r.message)
        } else {
            text += "none since start"
        }
        return text + "</p></section>"
    }

    private static func table(_ headings: [String], rows: [String]) -> String {
        let head = headings.enumerated().map {
            ($0.offset < 2 ? #"<th class="l">"# : "<th>") + $0.element + "</th>"
        }
        return #"<div class="scroll"><table><thead><tr>"# + head.joined() + "</tr></thead><tbody>"
            + rows.map { "<tr>" + $0 + "</tr>" }.joined() + "</tbody></table></div>"
    }

    private static func row(_ c: ProxyStatus.Cluster) -> String {
        var text = #"<td class="l">"# + esc(c.name) + (c.local ? #" <span class="tag">local</span>"# : "") + "</td>"
        text += #"<td class="l"><span class="state "# + stateClass(c.state) + #"">"# + esc(c.state) + "</span>"
            + (c.needsResync ? #" <span class="state down">needs resync</span>"# : "") + "</td>"
        text += "<td>\(c.serversDown)/\(c.servers)</td><td>" + latency(c.latencyMicros) + "</td>"
        text += "<td>" + (c.readRank > 0 ? "\(c.readRank)" : "–") + "</td>"
        text += "<td>" + number(UInt64(max(c.backlog, 0))) + "</td><td>" + age(c.backlogOldestSeconds) + "</td>"
        let counts = [
            c.missedWrites, c.droppedWrites, c.unknownOutcomes, c.repairedKeys, c.replayedWrites, c.requests, c.errors,
            c.verifiedReads,
        ]
        for n in counts { text += "<td>" + number(n) + "</td>" }
        return text + "<td>" + mismatchRate(c.verifyMismatches, verified: c.verifiedReads) + "</td>"
    }

    private static func stateClass(_ state: String) -> String {
        ["up", "degraded", "down"].contains(state) ? state : "unknown"
    }

    // MARK: formatting (each matches the script's function of the same name)

    static func esc(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "&", "<", ">", "\"", "'": out += "&#\(scalar.value);"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func number<T: BinaryInteger>(_ n: T) -> String {
        let digits = Array(String(n.magnitude))
        var out = n < 0 ? "-" : ""
        for (i, digit) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
            out.append(digit)
        }
        return out
    }

    /// `n / d` with `digits` decimals, rounded half up, with the same floating-point steps as the script.
    static func fixed(_ n: Double, _ d: Double, digits: Int) -> String {
        var scale = 1
        for _ in 0..<digits { scale *= 10 }
        let v = Int((n * Double(scale) / d).rounded())
        let fraction = String(v % scale)
        return "\(v / scale)." + String(repeating: "0", count: digits - fraction.count) + fraction
    }

    /// Mismatches per verified read as a percentage; a rate that rounds to zero is not shown as zero.
    static func mismatchRate(_ mismatches: UInt64, verified: UInt64) -> String {
        guard verified > 0 else { return "–" }
        let percent = Double(mismatches) * 100 / Double(verified)
        return mismatches > 0 && percent < 0.005 ? "&#60;0.01 %" : fixed(Double(mismatches) * 100, Double(verified), digits: 2) + " %"
    }

    static func latency(_ micros: Int64?) -> String {
        guard let us = micros else { return "–" }
        if us < 1000 { return "\(us) µs" }
        return fixed(Double(us), 1000, digits: us < 10_000 ? 2 : 1) + " ms"
    }

    /// The age of the oldest held write, or a dash when nothing is held.
    static func age(_ seconds: Int64?) -> String {
        seconds.map { duration($0) } ?? "–"
    }

    static func duration(_ seconds: Int64) -> String {
        let s = max(seconds, 0)
        let (d, h, m, x) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60)
        if d > 0 { return "\(d)d \(h)h \(m)m" }
        if h > 0 { return "\(h)h \(m)m \(x)s" }
        return m > 0 ? "\(m)m \(x)s" : "\(x)s"
    }

    // MARK: assets

    private static let css = """
        :root{--fg:#1f2328;--muted:#656d76;--line:#d8dee4;--head:#f6f8fa;--bg:#fff;--ok:#1a7f37;--okbg:#dafbe1;\
        --warn:#9a6700;--warnbg:#fff8c5;--bad:#cf222e;--badbg:#ffebe9}
        @media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#8d96a0;--line:#30363d;--head:#161b22;--bg:#0d1117;\
        --ok:#3fb950;--okbg:#12261e;--warn:#d29922;--warnbg:#272115;--bad:#f85149;--badbg:#2d1214}}
        body{margin:0;padding:1.25rem 1.5rem;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;\
        color:var(--fg);background:var(--bg)}
        h1{font-size:1.35rem;margin:0 0 .2rem}h2{font-size:1.05rem;margin:1.4rem 0 .3rem}a{color:inherit}
        .meta span{margin-right:1.25rem}.meta,.muted,.order{color:var(--muted)}.order{margin:.2rem 0 .5rem}
        .order b{color:var(--fg);font-weight:600}.scroll{overflow-x:auto}
        table{border-collapse:collapse;font-variant-numeric:tabular-nums}
        th,td{padding:.3rem .6rem;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
        th{background:var(--head);font-weight:600;font-size:.85rem;white-space:normal;vertical-align:bottom}.l{text-align:left}
        .state{display:inline-block;min-width:5.5em;padding:.05rem .5rem;border-radius:1rem;font-weight:600;font-size:.85rem;\
        text-align:center}
        .state.up{color:var(--ok);background:var(--okbg)}.state.degraded{color:var(--warn);background:var(--warnbg)}
        .state.down{color:var(--bad);background:var(--badbg)}.state.unknown{color:var(--muted);background:var(--head)}
        .tag{font-size:.75rem;padding:0 .35rem;border:1px solid var(--line);border-radius:.25rem;color:var(--muted)}
        .ok{color:var(--ok)}.bad{color:var(--bad)}.note{padding:.5rem .75rem;background:var(--warnbg);border-radius:.3rem}
        footer{margin-top:1.5rem;font-size:.85rem}
        """

    private static let script = #"""
        "use strict";
        (() => {
        const $ = id => document.getElementById(id);
        const esc = v => String(v).replace(/[&<>"']/g, c => "&#" + c.charCodeAt(0) + ";");
        const number = n => Number(n).toLocaleString("en-US");
        const fixed = (n, d, digits) => { const scale = 10 ** digits, v = Math.round(n * scale / d), f = String(v % scale);
          return Math.floor(v / scale) + "." + "0".repeat(digits - f.length) + f; };
        const mismatchRate = (m, v) => v > 0 ? (m > 0 && m * 100 / v < 0.005 ? "&#60;0.01 %" : fixed(m * 100, v, 2) + " %") : "–";
        const latency = us => us == null ? "–" : us < 1000 ? us + " µs" : fixed(us, 1000, us < 10000 ? 2 : 1) + " ms";
        const duration = t => { const s = Math.max(t, 0), d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600),
          m = Math.floor(s % 3600 / 60), x = s % 60;
          return d > 0 ? d + "d " + h + "h " + m + "m" : h > 0 ? h + "h " + m + "m " + x + "s" : m > 0 ? m + "m " + x + "s" : x + "s"; };
        const age = t => t == null ? "–" : duration(t);
        const when = t => new Date(t * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
        const stateClass = s => ["up", "degraded", "down"].includes(s) ? s : "unknown";
        const columns = ["Cluster", "State", "Servers down", "Latency", "Read rank", "Backlog", "Oldest held", "Missed writes",
          "Dropped writes", "Unknown outcomes", "Repaired keys", "Replayed writes", "Requests", "Errors", "Verified reads", "Mismatch rate"];
        const table = (headings, rows) => '<div class="scroll"><table><thead><tr>' +
          headings.map((h, i) => i < 2 ? '<th class="l">' + h + "</th>" : "<th>" + h + "</th>").join("") +
          "</tr></thead><tbody>" + rows.map(r => "<tr>" + r + "</tr>").join("") + "</tbody></table></div>";
        const row = c => '<td class="l">' + esc(c.name) + (c.local ? ' <span class="tag">local</span>' : "") + "</td>" +
          '<td class="l"><span class="state ' + stateClass(c.state) + '">' + esc(c.state) + "</span>" +
          (c.needsResync ? ' <span class="state down">needs resync</span>' : "") + "</td>" +
          "<td>" + c.serversDown + "/" + c.servers + "</td><td>" + latency(c.latencyMicros) + "</td>" +
          "<td>" + (c.readRank > 0 ? String(c.readRank) : "–") + "</td>" +
          "<td>" + number(Math.max(c.backlog, 0)) + "</td><td>" + age(c.backlogOldestSeconds) + "</td>" +
          [c.missedWrites, c.droppedWrites, c.unknownOutcomes, c.repairedKeys, c.replayedWrites, c.requests, c.errors, c.verifiedReads]
            .map(n => "<td>" + number(n) + "</td>").join("") +
          "<td>" + mismatchRate(c.verifyMismatches, c.verifiedReads) + "</td>";
        const meta = s => "<span>version " + esc(s.version) + "</span><span>up " + duration(s.uptimeSeconds) + "</span>" +
          "<span>write ack: " + esc(s.writeAck) + "</span>" + (s.configPath != null ? "<span>config: " + esc(s.configPath) + "</span>" : "");
        const body = s => s.protocols.map(p => "<section><h2>" + esc(p.name) + '</h2><p class="order">Read order: ' +
            (p.readOrder.length === 0 ? '<span class="bad">none: no cluster can serve reads</span>'
              : p.readOrder.map(n => "<b>" + esc(n) + "</b>").join(" → ")) +
            "</p>" + table(columns, p.clusters.map(row)) + "</section>").join("") +
          "<section><h2>Listeners</h2>" + table(["Listener", "Address", "Clients", "Protocol errors"], s.listeners.map(l =>
            '<td class="l">' + esc(l.name) + '</td><td class="l">' + esc(l.address) + "</td><td>" + number(l.clients) +
            "</td><td>" + number(l.protocolErrors) + "</td>")) +
          "</section><section><h2>Last reload</h2><p>" + (s.lastReload == null ? "none since start" :
            when(s.lastReload.atUnixSeconds) + (s.lastReload.applied ? ' · <span class="ok">applied</span> · '
              : ' · <span class="bad">not applied</span> · ') + esc(s.lastReload.message)) + "</p></section>";
        const live = $("live");
        async function refresh() {
          if (!document.hidden) {
            try {
              const options = { cache: "no-store" };
              if (AbortSignal.timeout) options.signal = AbortSignal.timeout(5000);
              const response = await fetch("/status", options);
              if (!response.ok) throw new Error("HTTP " + response.status);
              const s = await response.json();
              $("meta").innerHTML = meta(s);
              $("app").innerHTML = body(s);
              live.className = "muted";
              live.textContent = "Live: updated " + new Date().toLocaleTimeString() + ", every 2 s.";
            } catch (e) {
              live.className = "bad";
              live.textContent = "Cannot load /status (" + e.message + "); retrying every 2 s.";
            }
          }
          setTimeout(refresh, 2000);
        }
        refresh();
        })();
        """#
}
