#include "ui/views/lmtextcombo.h"

#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QSettings>
#include <QStandardItemModel>

#include "core/lm/corpus.h"

namespace cw::ui {

namespace {
const char kRecentKey[] = "lmEvaluate/recentTexts"; // the name from when Evaluate alone had a text
const char kDirKey[] = "lastDirs/lmText";
const char kBrown[] = "brown:heldout";
const char kChoose[] = "<choose>"; // the last item: a file dialog
} // namespace

LmTextCombo::LmTextCombo(QString settingsKey, QWidget *parent)
    : LmTextCombo(std::move(settingsKey), QString::fromLatin1(kBrown), parent)
{
}

LmTextCombo::LmTextCombo(QString settingsKey, QString brownSpec, QWidget *parent)
    : QComboBox(parent), m_key(std::move(settingsKey)), m_brown(std::move(brownSpec))
{
    setObjectName(QStringLiteral("lmTextCombo"));
    setMinimumContentsLength(28);
    setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    try {
        cw::lm::brownFolder();
    } catch (const std::exception &e) {
        m_brownError = QString::fromUtf8(e.what());
    }
    QSettings s;
    m_recent = s.value(QLatin1String(kRecentKey)).toStringList();
    fill(s.value(m_key, m_brownError.isEmpty() ? m_brown : QString()).toString());
    connect(this, &QComboBox::activated, this, [this](int index) {
        if (itemData(index).toString() == QLatin1String(kChoose))
            chooseFile();
        else
            m_lastIndex = index;
        writeSettings();
    });
}

QString LmTextCombo::displayName(const QString &spec)
{
    if (spec == QLatin1String(kBrown))
        return tr("Brown corpus, held-out split");
    if (spec == QLatin1String("brown:train"))
        return tr("Brown corpus, training split");
    return QFileInfo(spec).fileName();
}

void LmTextCombo::fill(const QString &select)
{
    clear();
    addItem(displayName(m_brown), m_brown);
    if (!m_brownError.isEmpty()) {
        // Offered, but off, with how to get it.
        qobject_cast<QStandardItemModel *>(model())->item(0)->setEnabled(false);
        setItemData(0, m_brownError, Qt::ToolTipRole);
        setItemText(0, tr("Brown corpus (not found)"));
    }
    for (const QString &path : m_recent) {
        addItem(QFileInfo(path).fileName(), path);
        setItemData(count() - 1, QDir::toNativeSeparators(path), Qt::ToolTipRole);
    }
    insertSeparator(count());
    addItem(tr("Choose a text file…"), QString::fromLatin1(kChoose));
    const int index = findData(select);
    const bool usable = index >= 0 && !(index == 0 && !m_brownError.isEmpty());
    // Nothing usable: the chooser shows, and the run asks for a text.
    m_lastIndex = usable ? index : count() - 1;
    setCurrentIndex(m_lastIndex);
}

void LmTextCombo::setTextSpec(const QString &spec)
{
    if (spec != m_brown && !spec.startsWith(QLatin1String("brown:")) && !spec.isEmpty()) {
        const QString path = QFileInfo(spec).absoluteFilePath();
        m_recent = QSettings().value(QLatin1String(kRecentKey)).toStringList(); // another view may have added one
        m_recent.removeAll(path);
        m_recent.prepend(path);
        while (m_recent.size() > kMaxRecentTexts)
            m_recent.removeLast();
        fill(path);
    } else {
        fill(spec);
    }
    writeSettings();
}

QString LmTextCombo::textSpec() const
{
    const QString spec = currentData().toString();
    if (spec == QLatin1String(kChoose) || (spec == m_brown && !m_brownError.isEmpty()))
        return {};
    return spec;
}

void LmTextCombo::chooseFile()
{
    QString dir = QSettings().value(QLatin1String(kDirKey)).toString();
    if (dir.isEmpty() || !QFileInfo(dir).isDir())
        dir = QDir::homePath();
    const QString path = QFileDialog::getOpenFileName(this, tr("Text"), dir, tr("Text files (*.txt *.md *.text);;All files (*)"));
    if (path.isEmpty()) {
        setCurrentIndex(m_lastIndex);
        return;
    }
    QSettings().setValue(QLatin1String(kDirKey), QFileInfo(path).absolutePath());
    setTextSpec(path);
}

void LmTextCombo::writeSettings()
{
    QSettings s;
    const QString spec = textSpec();
    if (!spec.isEmpty())
        s.setValue(m_key, spec);
    s.setValue(QLatin1String(kRecentKey), m_recent);
}

} // namespace cw::ui
