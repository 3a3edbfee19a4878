/// Collects up to `count` elements from `sequence`, giving up after `timeout` (what arrived by then is returned).
public func collect<S: AsyncSequence & Sendable>(_ sequence: S, count: Int, timeout: Duration) async -> [S.Element]
where S.Element: Sendable {
    await withTaskGroup(of: [S.Element]?.self) { group in
        group.addTask {
            var out: [S.Element] = []
            do {
                for try await element in sequence {
                    out.append(element)
                    if out.count >= count { break }
                }
            } catch {}
            return out
        }
        group.addTask {
            try? await Task.sleep(for: timeout)
            return nil
        }
        var result: [S.Element] = []
        while let next = await group.next() {
            if let next {
                result = next
                group.cancelAll()
                break
            }
            group.cancelAll()
        }
        return result
    }
}
