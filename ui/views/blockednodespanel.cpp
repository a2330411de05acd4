#include "ui/views/blockednodespanel.h"

#include <QLabel>
#include <QListWidget>
#include <QVBoxLayout>

#include <algorithm>

#include "ui/modelinputs.h"

namespace cw::ui {

BlockedNodesPanel::BlockedNodesPanel(QWidget *parent) : QFrame(parent)
{
    setObjectName(QStringLiteral("blockedNodesPanel"));
    setFrameShape(QFrame::StyledPanel);
    setStyleSheet(QStringLiteral("#blockedNodesPanel { background: #fff4ce; border: 1px solid #e0b84c; border-radius: 3px; }"
                                 "#blockedNodesPanel QListWidget { background: #fffaf0; }"));
    m_title = new QLabel(this);
    m_title->setObjectName(QStringLiteral("blockedNodesTitle"));
    m_title->setWordWrap(true);
    m_title->setTextFormat(Qt::RichText);
    m_list = new QListWidget(this);
    m_list->setObjectName(QStringLiteral("blockedNodesList"));
    m_list->setToolTip(tr("Double-click a node to select it in the layer table and the graph"));
    m_list->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    m_list->setTextElideMode(Qt::ElideRight);
    m_list->setMinimumWidth(0);
    connect(m_list, &QListWidget::itemDoubleClicked, this,
            [this](QListWidgetItem *item) { emit nodeActivated(item->data(Qt::UserRole).toString()); });

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(8, 6, 8, 6);
    layout->setSpacing(4);
    layout->addWidget(m_title);
    layout->addWidget(m_list);
    setVisible(false);
}

void BlockedNodesPanel::setNodes(const std::vector<cw::UnsupportedNode> &nodes)
{
    m_list->clear();
    for (const cw::UnsupportedNode &n : nodes) {
        const QString name = QString::fromStdString(n.name);
        auto *item = new QListWidgetItem(QStringLiteral("%1 — %2").arg(name, describeBlocking(n)), m_list);
        item->setData(Qt::UserRole, QString::fromStdString(n.subgraph.empty() ? n.name : n.subgraph));
    }
    const QString count = nodes.size() == 1 ? tr("1 node cannot run") : tr("%1 nodes cannot run").arg(nodes.size());
    m_title->setText(tr("<b>%1</b>: %2 no kernel here. The layers, weights, statistics and graph are shown; "
                        "evaluation, activation statistics, sensitivity and compression are off. Double-click a node "
                        "to select it.")
                         .arg(count, nodes.size() == 1 ? tr("its operator has") : tr("their operators have")));
    // As tall as the list, up to four rows; more scroll.
    const int rows = std::min<int>(int(nodes.size()), 4);
    m_list->setFixedHeight(rows > 0 ? m_list->sizeHintForRow(0) * rows + 2 * m_list->frameWidth() + 2 : 0);
    setVisible(!nodes.empty());
}

QString BlockedNodesPanel::title() const
{
    return m_title->text();
}

} // namespace cw::ui
