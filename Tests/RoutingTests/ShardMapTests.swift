import Testing

@testable import Routing

private func map(_ distribution: ShardDistribution, _ hash: KeyHashKind, _ servers: [ShardServer],
                 tag: String = "") -> ShardMap {
    ShardMap(servers: servers, distribution: distribution, hash: hash, hashTag: tag)
}

private func shard(_ map: ShardMap, _ key: String) -> Int {
    Array(key.utf8).withUnsafeBytes { map.shard(forKey: $0) }
}

private func keyHash(_ map: ShardMap, _ key: String) -> UInt32 {
    Array(key.utf8).withUnsafeBytes { map.keyHash($0) }
}

private func tagged(_ tag: String, _ key: String) -> String {
    let part = Array(key.utf8).withUnsafeBytes { HashTag(tag)!.hashedPart(of: $0) }
    return String(decoding: part, as: UTF8.self)
}

private let threeServers = (1 ... 3).map { ShardServer(host: "127.0.0.1", port: 22120 + $0) }

@Test(arguments: shardVectors)
func placesKeysLikeTheRealPrograms(_ vector: ShardVector) {
    let shardMap = map(vector.distribution, vector.hash, vector.servers, tag: vector.tag)
    let got = String(vector.keys.map { key in
        Character(String(key.withUnsafeBytes { shardMap.shard(forKey: $0) }))
    })
    #expect(got.count == vector.expected.count)
    let firstDifference = zip(got, vector.expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
    #expect(got == vector.expected, "first difference at key \(firstDifference.map(String.init) ?? "-")")
}

@Test func vectorsCoverEveryHashWithBothTwemproxyDistributions() {
    for distribution in [ShardDistribution.ketama, .modula] {
        let hashes = Set(shardVectors.filter { $0.distribution == distribution }.map(\.hash))
        #expect(hashes == Set(KeyHashKind.allCases), "\(distribution)")
    }
}

@Test func anEmptyKeyHashesToZeroAsInTwemproxy() {
    // nutcracker put an empty Redis key on server 2 of this pool (see ShardVectors.swift):
    // the first point of the ring, which hash 0 picks, not where fnv1a_64("") would go.
    let redis = (1 ... 3).map { ShardServer(host: "127.0.0.1", port: 22130 + $0) }
    let shardMap = map(.ketama, .fnv1a_64, redis)
    #expect(keyHash(shardMap, "") == 0)
    #expect(shard(shardMap, "") == 2)
    #expect(shardMap.shard(forHash: 0x8422_2325) != 2)
    // A tagged key whose tag is empty is hashed whole, so it is not empty.
    let whole = Array("{}".utf8).withUnsafeBytes { KeyHash.hash(.fnv1a_64, $0) }
    #expect(keyHash(map(.ketama, .fnv1a_64, redis, tag: "{}"), "{}") == whole)
}

@Test func hashTagsFollowTwemproxy() {
    #expect(tagged("{}", "{user}.a") == "user")
    #expect(tagged("{}", "a.{user}") == "user")
    #expect(tagged("{}", "{}x") == "{}x")
    #expect(tagged("{}", "{}{x}") == "{}{x}")
    #expect(tagged("{}", "a{b") == "a{b")
    #expect(tagged("{}", "}{x}") == "x")
    #expect(tagged("{}", "{a}{b}") == "a")
    #expect(tagged("{}", "{{a}}") == "{a")
    #expect(tagged("$$", "x$id$y") == "id")
    #expect(tagged("", "{user}.a") == "{user}.a")
    #expect(HashTag("{") == nil)
    #expect(HashTag("{}}") == nil)
    #expect(HashTag("") == .off)
    #expect(!HashTag.off.isOn && HashTag("{}")!.isOn)
}

@Test func taggedKeysShareAServer() {
    for distribution in [ShardDistribution.ketama, .modula, .libmemcachedKetama] {
        let shardMap = map(distribution, .murmur, threeServers, tag: "{}")
        let home = shard(shardMap, "user")
        for suffix in ["a", "b", "session", "cart:7"] {
            #expect(shard(shardMap, "{user}.\(suffix)") == home)
        }
        #expect(keyHash(shardMap, "{user}.a") == keyHash(shardMap, "user"))
    }
}

@Test func oneServerTakesEverythingWithoutHashing() {
    let only = [ShardServer(host: "10.0.0.1", port: 11211, weight: 5)]
    for distribution in ShardDistribution.allCases {
        let shardMap = map(distribution, .md5, only)
        #expect(shardMap.count == 1)
        for key in ["", "a", "key:1", "{x}y"] {
            #expect(shard(shardMap, key) == 0)
        }
        #expect(shardMap.shard(forHash: .max) == 0)
    }
}

@Test func weightsScaleKetamaPointsLikeTwemproxy() {
    let weighted = [1, 2, 3].enumerated().map { ShardServer(host: "h", port: 1 + $0.offset, weight: $0.element) }
    // floorf(w/6 * 40 * 3) * 4: 80, 160 and 240 points.
    #expect(KetamaContinuum.weighted(weighted, buildOrder: [0, 1, 2]).pointCount == 480)
    #expect(KetamaContinuum.weighted(threeServers, buildOrder: [0, 1, 2]).pointCount == 480)
    // 10/7/1 of 18: floorf(66.67)*4 + floorf(46.67)*4 + floorf(6.67)*4 = 264 + 184 + 24.
    let skewed = [10, 7, 1].enumerated().map { ShardServer(host: "h", port: 1 + $0.offset, weight: $0.element) }
    #expect(KetamaContinuum.weighted(skewed, buildOrder: [0, 1, 2]).pointCount == 472)
    #expect(KetamaContinuum.libmemcached(threeServers, hash: .oneAtATime).pointCount == 300)
}

@Test func modulaHandsOutWeightedSlotsInTwemproxysOrder() {
    // Ring names "b:1" (weight 2), "a:1" (weight 1), "cc:1" (weight 1): twemproxy's order is
    // a:1, b:1, cc:1 (shorter names first), so slots 0, 1, 2, 3 go to servers 1, 0, 0, 2.
    let servers = [ShardServer(host: "b", port: 1, weight: 2), ShardServer(host: "a", port: 1),
                   ShardServer(host: "cc", port: 1)]
    #expect(ShardMap.twemproxyOrder(servers) == [1, 0, 2])
    let shardMap = map(.modula, .crc32, servers)
    #expect((0 ..< 8).map { shardMap.shard(forHash: UInt32($0)) } == [1, 0, 0, 2, 1, 0, 0, 2])
    #expect(shardMap.shard(forHash: .max) == [1, 0, 0, 2][Int(UInt32.max % 4)])
}

@Test func ringNamesFollowTwemproxyAndLibmemcached() {
    #expect(ShardServer(host: "10.0.0.1", port: 11211).ringName == "10.0.0.1")
    #expect(ShardServer(host: "10.0.0.1", port: 11212, weight: 3).ringName == "10.0.0.1:11212")
    #expect(ShardServer(host: "10.0.0.1", port: 11211, name: "cache-a").ringName == "cache-a")
    // A name, not the address, places keys: the same names at new addresses keep the layout.
    let named = (1 ... 3).map { ShardServer(host: "127.0.0.1", port: 22120 + $0, name: "s\($0)") }
    let moved = (1 ... 3).map { ShardServer(host: "10.9.9.\($0)", port: 6379, name: "s\($0)") }
    for distribution in [ShardDistribution.ketama, .modula, .libmemcachedKetama] {
        let before = map(distribution, .md5, named), after = map(distribution, .md5, moved)
        #expect((0 ..< 100).allSatisfy { shard(before, "k\($0)") == shard(after, "k\($0)") })
    }
}

@Test func randomStaysInRangeAndReachesEveryServer() {
    let shardMap = map(.random, .fnv1a_64, threeServers + [ShardServer(host: "x", port: 1, weight: 9)])
    var counts = [0, 0, 0, 0]
    for i in 0 ..< 4000 {
        let index = i % 2 == 0 ? shard(shardMap, "same-key") : shardMap.shard(forHash: 7)
        #expect((0 ..< 4).contains(index))
        counts[index] += 1
    }
    // Uniform over servers, weights ignored, as twemproxy's random() % servers.
    #expect(counts.allSatisfy { (700 ..< 1300).contains($0) }, "\(counts)")
}

@Test func randomPickerIsDeterministicForASeedAndNeverStuck() {
    let a = RandomShardPicker(seed: 42), b = RandomShardPicker(seed: 42)
    let first = (0 ..< 50).map { _ in a.next(below: 1000) }
    #expect(first == (0 ..< 50).map { _ in b.next(below: 1000) })
    #expect(Set(first).count > 40)
}

@Test func hashesLikeComparesHashAndTag() {
    let base = map(.ketama, .md5, threeServers, tag: "{}")
    #expect(base.hashesLike(map(.modula, .md5, Array(threeServers.prefix(2)), tag: "{}")))
    #expect(base.hashesLike(map(.libmemcachedKetama, .md5, threeServers, tag: "{}")))
    #expect(!base.hashesLike(map(.ketama, .crc32, threeServers, tag: "{}")))
    #expect(!base.hashesLike(map(.ketama, .md5, threeServers)))
    #expect(!base.hashesLike(map(.ketama, .md5, threeServers, tag: "[]")))
    // Reusing a hash gives what hashing again would.
    let other = map(.modula, .md5, threeServers, tag: "{}")
    for key in ["{a}1", "b", "{c}"] {
        #expect(other.shard(forHash: keyHash(base, key)) == shard(other, key))
    }
}

@Test func libmemcachedKetamaSwitchesToTheWeightedRingWhenAWeightExceedsOne() {
    let weighted = [1, 2, 3].enumerated().map { ShardServer(host: "127.0.0.1", port: 22121 + $0.offset, weight: $0.element) }
    let libmemcached = map(.libmemcachedKetama, .oneAtATime, weighted)
    let twemproxy = map(.ketama, .oneAtATime, weighted)
    #expect((0 ..< 200).allSatisfy { shard(libmemcached, "k\($0)") == shard(twemproxy, "k\($0)") })
    let flat = map(.libmemcachedKetama, .oneAtATime, threeServers)
    #expect(!(0 ..< 200).allSatisfy { shard(flat, "k\($0)") == shard(map(.ketama, .oneAtATime, threeServers), "k\($0)") })
}
