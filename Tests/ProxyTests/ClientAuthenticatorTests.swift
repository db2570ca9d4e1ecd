@testable import Proxy
import Testing

/// AUTH's outcomes under each kind of configuration, the commands allowed before it, and the
/// password comparison.
@Suite struct ClientAuthenticatorTests {
    private func authenticator(_ users: [(String, String)]) -> ClientAuthenticator {
        ClientAuthenticator(ClientAuthConfig(users: users.map { ClientUser(name: $0.0, password: $0.1) }))
    }

    private func auth(_ a: ClientAuthenticator, _ user: String?, _ password: String) -> ClientAuthenticator.Outcome {
        a.authenticate(user: user, password: Array(password.utf8))
    }

    @Test func withoutPasswordsDefaultIsNopassAndNothingElseExists() {
        let open = authenticator([])
        #expect(!open.isRequired)
        #expect(auth(open, nil, "anything") == .noDefaultPassword)
        #expect(auth(open, "default", "anything") == .authenticated(user: "default"))
        #expect(auth(open, "alice", "anything") == .refused)
    }

    @Test func requirepassGuardsTheDefaultUser() {
        let guarded = authenticator([("default", "s3cret")])
        #expect(guarded.isRequired)
        #expect(auth(guarded, nil, "s3cret") == .authenticated(user: "default"))
        #expect(auth(guarded, "default", "s3cret") == .authenticated(user: "default"))
        for wrong in ["", "s3cre", "s3cret!", "S3CRET", "s3creT", "x"] {
            #expect(auth(guarded, nil, wrong) == .refused, "\(wrong)")
            #expect(auth(guarded, "default", wrong) == .refused, "\(wrong)")
        }
        #expect(auth(guarded, "alice", "s3cret") == .refused)
    }

    @Test func aclUsersEachHaveTheirOwnPassword() {
        let acl = authenticator([("alice", "pa"), ("bob", "pb")])
        #expect(acl.isRequired)
        #expect(auth(acl, "alice", "pa") == .authenticated(user: "alice"))
        #expect(auth(acl, "bob", "pb") == .authenticated(user: "bob"))
        #expect(auth(acl, "alice", "pb") == .refused)
        #expect(auth(acl, "carol", "pa") == .refused)
        // Names are case-sensitive, as redis's.
        #expect(auth(acl, "Alice", "pa") == .refused)
        // `default` has no password while others do: disabled, and AUTH <password> says why.
        #expect(auth(acl, "default", "pa") == .refused)
        #expect(auth(acl, nil, "pa") == .noDefaultPassword)
    }

    @Test func passwordsAreComparedAsBytes() {
        let binary = authenticator([("u", "pä\u{0}ss")])
        #expect(auth(binary, "u", "pä\u{0}ss") == .authenticated(user: "u"))
        #expect(auth(binary, "u", "pä") == .refused)
        #expect(binary.authenticate(user: "u", password: Array("pa\u{0}ss".utf8)) == .refused)
    }

    @Test func constantTimeEqualIsEquality() {
        let cases: [([UInt8], [UInt8])] = [
            ([], []), ([1], [1]), ([1, 2, 3], [1, 2, 3]), ([1, 2], [1, 2, 3]), ([1, 2, 3], [1, 2]), ([], [1]),
            ([1], []), ([0, 0], [0]), ([1, 2, 1, 2], [1, 2]), ([255], [0]),
        ]
        for (a, b) in cases {
            #expect(ClientAuthenticator.constantTimeEqual(a, b) == (a == b), "\(a) vs \(b)")
        }
    }

    @Test func onlyAuthHelloQuitAndResetRunUnauthenticated() {
        func allowed(_ name: String) -> Bool {
            Array(name.utf8).withUnsafeBytes { ClientAuthenticator.mayRunUnauthenticated($0) }
        }
        for name in ["auth", "AUTH", "Auth", "hello", "HELLO", "quit", "QUIT", "reset", "ReSeT"] {
            #expect(allowed(name), "\(name)")
        }
        for name in ["ping", "get", "set", "select", "client", "acl", "info", "auth2", "aut", "hell", "quits", "", "@uth"] {
            #expect(!allowed(name), "\(name)")
        }
    }
}
