import ZhizaoCLI

/// The `zhizao` executable: everything lives in ZhizaoCLI so it can be tested.
@main
enum Entry {
    static func main() async {
        await Zhizao.runFromCommandLine()
    }
}
