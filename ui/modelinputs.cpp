#include "ui/modelinputs.h"

#include <QCoreApplication>
#include <QCryptographicHash>
#include <QDateTime>
#include <QFileInfo>
#include <QSettings>
#include <QStringList>
#include <QVariantMap>

#include <cmath>

#include "core/base/error.h"
#include "core/runtime/ops.h"

namespace cw::ui {

namespace {

const char kGroup[] = "inputShapes"; // the name from before values were kept: earlier entries still load

QString tr(const char *text, const char *disambiguation = nullptr, int n = -1)
{
    return QCoreApplication::translate("cw::ui::ModelInputs", text, disambiguation, n);
}

// The settings entry of a model: its canonical path (hashed: a path is not a valid key), and the stamp that
// tells whether the file is still the one the shapes were given for.
struct ModelKey {
    QString key, stamp;
};

ModelKey modelKey(const QString &spec)
{
    const QFileInfo file(spec);
    if (!file.exists())
        return {spec, {}}; // a built-in demo
    const QString path = file.canonicalFilePath();
    return {QString::fromLatin1(QCryptographicHash::hash(path.toUtf8(), QCryptographicHash::Sha1).toHex()),
            QStringLiteral("%1 %2").arg(file.size()).arg(file.lastModified().toMSecsSinceEpoch())};
}

} // namespace

cw::FeedOptions feedOptions(const cw::Graph &graph, const ModelInputs &inputs)
{
    cw::FeedOptions feeds = cw::symbolSizes(graph, inputs.shapes);
    for (const auto &[symbol, size] : inputs.sizes) {
        auto [it, fresh] = feeds.shapes.emplace(symbol, cw::Shape{size});
        if (!fresh && it->second != cw::Shape{size})
            throw cw::Error("dimension '" + symbol + "' is given " + std::to_string(it->second.front()) + " and " +
                            std::to_string(size));
    }
    feeds.sameSize = inputs.sameSize;
    for (const auto &[name, value] : inputs.values) {
        bool found = false;
        for (size_t k = 1; k < graph.inputs.size(); ++k)
            found = found || graph.inputs[k].name == name;
        if (!found)
            throw cw::Error("a value is given for '" + name +
                            "', which is not a graph input after the first (the dataset feeds the first)");
        feeds.values[name] = value;
    }
    return feeds;
}

QString RunInputs::missingSizes(const cw::Graph &graph, bool firstFromData) const
{
    QStringList missing;
    for (const std::string &s : cw::unsizedSymbols(graph, feeds, firstFromData))
        missing << tr("a size for %1").arg(QString::fromStdString(s));
    for (size_t k = firstFromData ? 1 : 0; k < graph.inputs.size(); ++k) {
        const cw::ValueInfo &in = graph.inputs[k];
        if (!in.shapeKnown && !feeds.shapes.count(in.name) && !feeds.tensors.count(in.name))
            missing << tr("a shape for input '%1', which the model does not declare").arg(QString::fromStdString(in.name));
    }
    if (missing.isEmpty())
        return {};
    return tr("Running the model needs %1 (Model → Inputs…, Ctrl+I).").arg(missing.join(QStringLiteral(", ")));
}

QString describeBlocking(const cw::UnsupportedNode &node)
{
    QString text = QString::fromStdString(node.opType);
    if (!node.domain.empty())
        text += tr(", domain %1 version %2").arg(QString::fromStdString(node.domain)).arg(node.opset);
    else
        text += tr(", opset %1").arg(node.opset);
    if (node.kernel) // a kernel exists, for other opsets
        text += tr(", supported at %1–%2").arg(node.kernel->minOpset).arg(node.kernel->maxOpset);
    if (!node.subgraph.empty())
        text += tr(", inside '%1'").arg(QString::fromStdString(node.subgraph));
    return text;
}

QString blockedReason(const std::vector<cw::UnsupportedNode> &nodes, int listed)
{
    if (nodes.empty())
        return {};
    QStringList names;
    for (size_t k = 0; k < nodes.size() && int(k) < listed; ++k)
        names << QStringLiteral("%1 (%2)").arg(QString::fromStdString(nodes[k].name), describeBlocking(nodes[k]));
    if (int(nodes.size()) > listed)
        names << tr("%n more", nullptr, int(nodes.size()) - listed);
    return (nodes.size() == 1 ? tr("1 node cannot run: %1") : tr("%1 nodes cannot run: %2").arg(nodes.size()))
        .arg(names.join(QStringLiteral(", ")));
}

QString formatDims(const cw::Shape &shape)
{
    QStringList dims;
    for (int64_t d : shape)
        dims << QString::number(d);
    return dims.join(QLatin1Char(','));
}

bool parseDims(const QString &text, cw::Shape &shape)
{
    shape.clear();
    for (const QString &part : text.split(QLatin1Char(','))) {
        bool ok = false;
        const qlonglong v = part.trimmed().toLongLong(&ok);
        if (!ok || v < 1)
            return false;
        shape.push_back(v);
    }
    return true;
}

bool parseValue(const QString &text, std::optional<double> &value)
{
    value.reset();
    const QString t = text.trimmed();
    if (t.isEmpty() || t.compare(QLatin1String("random"), Qt::CaseInsensitive) == 0)
        return true;
    bool ok = false;
    const double v = t.toDouble(&ok);
    if (!ok || !std::isfinite(v))
        return false;
    value = v;
    return true;
}

ModelInputs loadModelInputs(const QString &spec)
{
    const ModelKey key = modelKey(spec);
    QSettings settings;
    settings.beginGroup(QLatin1String(kGroup));
    const QVariantMap entry = settings.value(key.key).toMap();
    ModelInputs inputs;
    if (entry.value(QStringLiteral("file")).toString() != key.stamp)
        return inputs;
    const QVariantMap shapes = entry.value(QStringLiteral("shapes")).toMap();
    for (auto it = shapes.begin(); it != shapes.end(); ++it) {
        cw::Shape shape;
        if (parseDims(it.value().toString(), shape))
            inputs.shapes[it.key().toStdString()] = shape;
    }
    const QVariantMap same = entry.value(QStringLiteral("sameSize")).toMap();
    for (auto it = same.begin(); it != same.end(); ++it)
        inputs.sameSize[it.key().toStdString()] = it.value().toString().toStdString();
    const QVariantMap sizes = entry.value(QStringLiteral("sizes")).toMap();
    for (auto it = sizes.begin(); it != sizes.end(); ++it)
        if (const qlonglong v = it.value().toLongLong(); v >= 1)
            inputs.sizes[it.key().toStdString()] = v;
    const QVariantMap values = entry.value(QStringLiteral("values")).toMap();
    for (auto it = values.begin(); it != values.end(); ++it) {
        std::optional<double> value;
        if (parseValue(it.value().toString(), value) && value)
            inputs.values[it.key().toStdString()] = *value;
    }
    return inputs;
}

void saveModelInputs(const QString &spec, const ModelInputs &inputs)
{
    const ModelKey key = modelKey(spec);
    QSettings settings;
    settings.beginGroup(QLatin1String(kGroup));
    if (inputs.empty()) {
        settings.remove(key.key);
        return;
    }
    QVariantMap shapes, values, same, sizes;
    for (const auto &[name, shape] : inputs.shapes)
        shapes[QString::fromStdString(name)] = formatDims(shape);
    for (const auto &[symbol, other] : inputs.sameSize)
        same[QString::fromStdString(symbol)] = QString::fromStdString(other);
    for (const auto &[symbol, size] : inputs.sizes)
        sizes[QString::fromStdString(symbol)] = qlonglong(size);
    for (const auto &[name, value] : inputs.values)
        values[QString::fromStdString(name)] = QString::number(value, 'g', 17);
    settings.setValue(key.key, QVariantMap{{QStringLiteral("file"), key.stamp},
                                           {QStringLiteral("shapes"), shapes},
                                           {QStringLiteral("sameSize"), same},
                                           {QStringLiteral("sizes"), sizes},
                                           {QStringLiteral("values"), values}});
}

} // namespace cw::ui
