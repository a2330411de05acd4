#include "ui/formatting.h"

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

QString formatShape(const cw::Shape &shape)
{
    if (shape.empty())
        return QStringLiteral("—");
    return QString::fromStdString(cw::shapeToString(shape));
}

QString formatShapes(const std::vector<cw::Shape> &shapes)
{
    QStringList parts;
    for (const cw::Shape &s : shapes)
        parts << formatShape(s);
    return parts.join(QStringLiteral("; "));
}

} // namespace cw::ui
