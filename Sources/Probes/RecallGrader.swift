/// Which planted facts an answer recalls: a fact counts when its code appears in the answer as a
/// number of its own. Codes are random four-digit numbers and the filler has no digits, so a code
/// cannot appear by chance; which vault it is said to belong to is not checked, because a small
/// model's formatting varies more than its recall.
public enum RecallGrader {
    public static func recalled(_ facts: [CanaryFact], in answer: String) -> [Bool] {
        var numbers: Set<Substring> = []
        var current = answer.startIndex
        while current < answer.endIndex {
            guard answer[current].isASCII, answer[current].isNumber else {
                current = answer.index(after: current)
                continue
            }
            var end = current
            while end < answer.endIndex, answer[end].isASCII, answer[end].isNumber { end = answer.index(after: end) }
            numbers.insert(answer[current..<end])
            current = end
        }
        return facts.map { numbers.contains(Substring($0.code)) }
    }
}
