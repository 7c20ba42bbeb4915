import Foundation

#if canImport(FoundationXML)
import FoundationXML
#endif

/// An SVG read with `XMLParser`: each element with its attributes and its own text (entities resolved).
final class SVGDocument: NSObject, XMLParserDelegate {
    struct Element {
        let name: String
        let attributes: [String: String]
        var text: String
        /// The index of the enclosing element, `nil` for the root.
        let parent: Int?
    }

    private(set) var elements: [Element] = []
    private var open: [Int] = []

    /// Parses `text`; `nil` when it is not well-formed XML.
    static func parse(_ text: String) -> SVGDocument? {
        let parser = XMLParser(data: Data(text.utf8))
        let document = SVGDocument()
        parser.delegate = document
        return parser.parse() ? document : nil
    }

    var root: Element? { elements.first }

    func elements(named name: String) -> [Element] {
        elements.filter { $0.name == name }
    }

    /// `<rect class="bar">` elements, in document order.
    var bars: [Element] {
        elements(named: "rect").filter { $0.attributes["class"] == "bar" }
    }

    /// The text of the `<title>` inside each bar.
    var barTitles: [String] {
        let barIndices = Set(elements.indices.filter { elements[$0].name == "rect" })
        return elements.filter { $0.name == "title" && $0.parent.map(barIndices.contains) == true }.map(\.text)
    }

    /// The texts of `<text class="…">` elements.
    func texts(class name: String) -> [String] {
        elements(named: "text").filter { $0.attributes["class"] == name }.map(\.text)
    }

    func parser(
        _ parser: XMLParser,
        didStartElement elementName: String,
        namespaceURI: String?,
        qualifiedName qName: String?,
        attributes attributeDict: [String: String] = [:]
    ) {
        elements.append(Element(name: elementName, attributes: attributeDict, text: "", parent: open.last))
        open.append(elements.count - 1)
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if let index = open.last { elements[index].text += string }
    }

    func parser(
        _ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?
    ) {
        open.removeLast()
    }
}
