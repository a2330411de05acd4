#include "ui/views/numberlabels.h"

#include <QBoxLayout>
#include <QLabel>

namespace cw::ui {

QLabel *newValueLabel(const QString &objectName)
{
    auto *label = new QLabel(QStringLiteral("—"));
    label->setObjectName(objectName);
    label->setTextInteractionFlags(Qt::TextSelectableByMouse);
    QFont f = label->font();
    f.setPointSizeF(f.pointSizeF() * 1.35);
    f.setBold(true);
    label->setFont(f);
    return label;
}

void addNumber(QBoxLayout *layout, const QString &caption, QLabel *value, const QString &tip)
{
    auto *c = new QLabel(caption);
    c->setStyleSheet(QStringLiteral("QLabel { color: #666; }"));
    c->setToolTip(tip);
    value->setToolTip(tip);
    layout->addWidget(c);
    layout->addWidget(value);
    layout->addSpacing(4);
}

} // namespace cw::ui
