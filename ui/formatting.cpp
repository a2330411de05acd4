#include "ui/formatting.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace cw::ui {

QLocale displayLocale()
{
    QLocale locale;
    if (locale.language() == QLocale::C)
        locale = QLocale(QLocale::English, QLocale::UnitedStates);
    return locale;
}

QString formatCount(int64_t value)
{
    return displayLocale().toString(qlonglong(value));
}

QString formatBytes(int64_t bytes)
{
    return displayLocale().formattedDataSize(bytes, 2, QLocale::DataSizeIecFormat);
}

QString formatPercent(double fraction, int decimals)
{
    return displayLocale().toString(fraction * 100.0, 'f', decimals) + QStringLiteral(" %");
}

QString formatDb(double db)
{
    if (std::isinf(db))
        return db > 0 ? QStringLiteral("∞ dB (exact)") : QStringLiteral("−∞ dB");
    if (std::isnan(db))
        return QStringLiteral("—");
    return displayLocale().toString(db, 'f', 1) + QStringLiteral(" dB");
}

QString memoryColumnTip()
{
    return QObject::tr("Peak memory of a batch-1 run, measured: the weights as the engine holds them (a weight-only "
                       "quantized layer also keeps its float weight) and the most activations alive at once");
}

QString peakRssColumnTip()
{
    return QObject::tr("Peak resident memory of a process that loads the saved variant and runs it once at batch 1 "
                       "(cwb bench, measured in a process of its own): what running it costs, the program's "
                       "libraries included");
}

QString formatMs(double ms)
{
    return ms <= 0 ? QStringLiteral("—") : QString::number(ms, 'f', ms < 1 ? 3 : ms < 10 ? 2 : 1);
}

QString formatShape(const cw::Shape &shape)
{
    if (shape.empty())
        return QStringLiteral("—");
    return QString::fromStdString(cw::shapeToString(shape));
}

QString formatShape(const cw::ValueInfo &value)
{
    return QString::fromStdString(cw::shapeToString(value));
}

QString formatShapes(const std::vector<cw::ValueInfo> &values)
{
    QStringList parts;
    for (const cw::ValueInfo &v : values)
        parts << formatShape(v);
    return parts.join(QStringLiteral("; "));
}

QStringList distinctiveNames(const QStringList &names)
{
    if (names.size() < 2)
        return names;
    std::vector<QStringList> parts;
    qsizetype shortest = std::numeric_limits<qsizetype>::max();
    for (const QString &name : names) {
        parts.push_back(name.split(QLatin1Char('/')));
        shortest = std::min(shortest, parts.back().size());
    }
    // Shared leading and trailing parts, leaving at least one part of the shortest name.
    const auto shared = [&](auto at) {
        qsizetype k = 0;
        while (k + 1 < shortest && std::all_of(parts.begin(), parts.end(), [&](const QStringList &p) {
                   return at(p, k) == at(parts.front(), k);
               }))
            ++k;
        return k;
    };
    const qsizetype head = shared([](const QStringList &p, qsizetype k) { return p[k]; });
    shortest -= head;
    const qsizetype tail = shared([head](const QStringList &p, qsizetype k) { return p[p.size() - 1 - k]; });
    QStringList out;
    for (const QStringList &p : parts) {
        const QString name = p.mid(head, p.size() - head - tail).join(QLatin1Char('/'));
        if (name.isEmpty())
            return names;
        out << name;
    }
    return out;
}

} // namespace cw::ui
