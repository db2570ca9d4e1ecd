/// A Unix time split into UTC calendar fields (proleptic Gregorian), for the HTTP `Date` header and
/// the status page. Pure arithmetic: no time zones, no Foundation, no system call.
struct UTCDate: Equatable {
    let year: Int
    /// 1...12
    let month: Int
    /// 1...31
    let day: Int
    let hour: Int
    let minute: Int
    let second: Int
    /// 0 = Sunday ... 6 = Saturday.
    let weekday: Int

    init(unixSeconds: Int64) {
        let seconds = Int(unixSeconds)
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let inDay = seconds - days * 86_400
        hour = inDay / 3600
        minute = inDay % 3600 / 60
        second = inDay % 60
        // 1970-01-01 was a Thursday.
        weekday = ((days % 7) + 11) % 7
        // Howard Hinnant's civil_from_days: eras of 400 years starting on 0000-03-01.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    }

    /// RFC 9110 IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
    var imfFixdate: String {
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        return "\(days[weekday]), \(Self.pad(day)) \(months[month - 1]) \(year) \(clock) GMT"
    }

    /// `1994-11-06 08:49:37 UTC`, as the status page shows times.
    var text: String {
        "\(year)-\(Self.pad(month))-\(Self.pad(day)) \(clock) UTC"
    }

    /// `08:49:37`
    private var clock: String {
        "\(Self.pad(hour)):\(Self.pad(minute)):\(Self.pad(second))"
    }

    private static func pad(_ n: Int) -> String {
        n < 10 ? "0\(n)" : "\(n)"
    }
}
