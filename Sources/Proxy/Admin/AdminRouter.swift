/// Maps an admin request to its response: which paths exist, which methods each takes, and the
/// status of every answer.
///
/// Contract:
/// - `GET /metrics` 200 Prometheus text; `GET /status` 200 JSON; `GET /` 200 the HTML status page;
///   `GET /health` 200 `ok` or 503 `unhealthy`; `POST /reload` 200 or 409 with the handler's message.
/// - `HEAD` on a GET route answers like GET (the caller leaves the body out).
/// - Another method on a known path: 405 with `Allow`; an unknown path: 404.
/// - Paths match exactly (no trailing-slash or percent-decoding leniency); the query is ignored.
enum AdminRouter {
    private static let readAllow = "GET, HEAD"
    private static let reloadAllow = "POST"

    static func response(to request: HTTPRequest, handler: AdminHandler) -> HTTPResponse {
        switch request.path {
        case "/metrics", "/status", "/", "/health":
            guard request.method == "GET" || request.method == "HEAD" else { return notAllowed(readAllow) }
            return read(request.path, handler: handler)
        case "/reload":
            guard request.method == "POST" else { return notAllowed(reloadAllow) }
            let outcome = handler.reload()
            return .text(outcome.applied ? 200 : 409, outcome.message.hasSuffix("\n") ? outcome.message : outcome.message + "\n")
        default:
            return .text(404, "not found\n")
        }
    }

    private static func read(_ path: String, handler: AdminHandler) -> HTTPResponse {
        switch path {
        case "/metrics":
            return HTTPResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: handler.metricsText())
        case "/status":
            return HTTPResponse(status: 200, contentType: "application/json", body: handler.status().jsonBytes())
        case "/health":
            return handler.isHealthy() ? .text(200, "ok\n") : .text(503, "unhealthy\n")
        default:
            return HTTPResponse(
                status: 200, contentType: "text/html; charset=utf-8", body: StatusPage.render(handler.status()),
                headers: [("Content-Security-Policy", StatusPage.contentSecurityPolicy)])
        }
    }

    private static func notAllowed(_ allow: String) -> HTTPResponse {
        .text(405, "method not allowed\n", headers: [("Allow", allow)])
    }
}
