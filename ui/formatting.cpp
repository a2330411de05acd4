#include "ui/formatting.h"

#include <cmath>

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

} // namespace cw::ui
